// The static graph IR: nodes with an op, typed attributes, inputs, and a static shape and dtype,
// built through `Var` handles. Shape and dtype errors are raised here, at build time.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/attrs.h"
#include "engine/tensor.h"

namespace orbit {

using NodeId = int32_t;
using OpId = uint16_t;
class Graph;

enum class NodeKind : uint8_t { input, parameter, constant, op };

struct Node {
  NodeKind kind = NodeKind::op;
  OpId op = 0;                            // meaningful for kind == op
  std::shared_ptr<const AttrBase> attr;   // null when the op has no attributes
  std::vector<NodeId> inputs;
  Shape shape;
  DType dtype = DType::f32;
  std::string name;
  Tensor value;                           // constants only

  template <class A>
  const A& attr_as() const {
    auto* a = dynamic_cast<const A*>(attr.get());
    ORBIT_CHECK(a != nullptr, "node '", name, "' has no attribute of kind ", A::kName);
    return *a;
  }
};

// A handle to a node of a graph; the value type of the builder API.
class Var {
 public:
  Var() = default;
  Var(Graph* g, NodeId id) : g_(g), id_(id) {}

  bool valid() const { return g_ != nullptr && id_ >= 0; }
  Graph* graph() const { return g_; }
  NodeId id() const { return id_; }
  const Node& node() const;
  // By value: building nodes grows the graph and would invalidate references into it.
  Shape shape() const { return node().shape; }
  DType dtype() const { return node().dtype; }
  int rank() const { return shape().rank(); }
  std::string name() const { return node().name; }
  // Renames the node (for error messages, feeds and dumps); returns *this.
  Var& named(const std::string& name);

 private:
  Graph* g_ = nullptr;
  NodeId id_ = -1;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = default;  // a deep copy; Vars keep pointing at the original
  Graph& operator=(const Graph&) = default;

  // Leaves: names must be unique among inputs and parameters.
  Var input(const std::string& name, const Shape& shape, DType dtype = DType::f32);
  Var param(const std::string& name, const Shape& shape, DType dtype = DType::f32);
  Var constant(const Tensor& value, const std::string& name = "");
  Var scalar(double value, DType dtype = DType::f32);

  // Adds an op node after checking inputs and inferring its type; errors name the op, the input
  // shapes and the node names. `name` may be empty (an automatic name is given).
  Var add_op(OpId op, std::vector<Var> inputs, std::shared_ptr<const AttrBase> attr = nullptr,
             const std::string& name = "");
  // Low-level: adds an op node with a given type and no checks (used by graph rewrites).
  NodeId add_node_unchecked(Node node);
  // Low-level mutation: rewires input `slot` of `node` (can create cycles; compile() detects them).
  void replace_input(Var node, int slot, Var new_input);

  int size() const { return static_cast<int>(nodes_.size()); }
  const Node& node(NodeId id) const;
  Var var(NodeId id) { return Var(this, id); }
  std::vector<Var> inputs();
  std::vector<Var> params();
  Var find(const std::string& name);  // an input or parameter by name; invalid Var if absent

  // Name scopes prefix automatic and given names ("layer1/w").
  class Scope {
   public:
    Scope(Graph& g, const std::string& prefix);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Graph& g_;
  };
  std::string scoped(const std::string& name) const;

  // A human-readable listing of every node (for ORBIT_DUMP and error reports).
  std::string dump() const;
  // "'x' [3, 4] f32": how error messages refer to a node.
  std::string describe(NodeId id) const;

 private:
  friend class Var;
  Var add_leaf(NodeKind kind, const std::string& name, const Shape& shape, DType dtype);
  void check_var(const Var& v, const char* what) const;

  std::vector<Node> nodes_;
  std::vector<std::string> scope_;
};

}  // namespace orbit
