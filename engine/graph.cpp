#include "engine/graph.h"

#include <sstream>

#include "engine/op_registry.h"

namespace orbit {

const Node& Var::node() const {
  ORBIT_CHECK(valid(), "use of an empty Var (a default-constructed handle or a missing gradient)");
  return g_->node(id_);
}

Var& Var::named(const std::string& name) {
  ORBIT_CHECK(valid(), "naming an empty Var");
  ORBIT_CHECK(!name.empty(), "empty node name");
  auto& n = g_->nodes_[id_];
  ORBIT_CHECK(n.kind == NodeKind::op || n.kind == NodeKind::constant,
              "inputs and parameters are named when created; cannot rename '", n.name, "'");
  n.name = g_->scoped(name);
  return *this;
}

const Node& Graph::node(NodeId id) const {
  ORBIT_CHECK(id >= 0 && id < size(), "node id ", id, " is not in this graph (", size(), " nodes)");
  return nodes_[id];
}

std::string Graph::scoped(const std::string& name) const {
  std::string s;
  for (auto& p : scope_) s += p + "/";
  return s + name;
}

Graph::Scope::Scope(Graph& g, const std::string& prefix) : g_(g) { g_.scope_.push_back(prefix); }
Graph::Scope::~Scope() { g_.scope_.pop_back(); }

void Graph::check_var(const Var& v, const char* what) const {
  ORBIT_CHECK(v.valid(), what, ": an input is an empty Var (default-constructed, or a gradient that does not exist)");
  ORBIT_CHECK(v.graph() == this, what, ": input '", v.graph()->node(v.id()).name,
              "' belongs to another graph");
  ORBIT_CHECK(v.id() < size(), what, ": dangling input id ", v.id());
}

Var Graph::add_leaf(NodeKind kind, const std::string& name, const Shape& shape, DType dtype) {
  ORBIT_CHECK(!name.empty(), "inputs and parameters need a name");
  std::string full = scoped(name);
  for (auto& n : nodes_)
    ORBIT_CHECK(!((n.kind == NodeKind::input || n.kind == NodeKind::parameter) && n.name == full),
                "duplicate input/parameter name '", full, "'");
  Node n;
  n.kind = kind;
  n.shape = shape;
  n.dtype = dtype;
  n.name = full;
  nodes_.push_back(std::move(n));
  return Var(this, size() - 1);
}

Var Graph::input(const std::string& name, const Shape& shape, DType dtype) {
  return add_leaf(NodeKind::input, name, shape, dtype);
}

Var Graph::param(const std::string& name, const Shape& shape, DType dtype) {
  ORBIT_CHECK(is_float(dtype), "parameter '", name, "' must be f32 or f64, got ", dtype_name(dtype));
  return add_leaf(NodeKind::parameter, name, shape, dtype);
}

Var Graph::constant(const Tensor& value, const std::string& name) {
  ORBIT_CHECK(value.device().is_cpu(), "graph constants are given as CPU tensors");
  Node n;
  n.kind = NodeKind::constant;
  n.shape = value.shape();
  n.dtype = value.dtype();
  n.value = value;
  n.name = scoped(name.empty() ? "const#" + std::to_string(size()) : name);
  nodes_.push_back(std::move(n));
  return Var(this, size() - 1);
}

Var Graph::scalar(double value, DType dtype) { return constant(Tensor::scalar(value, dtype)); }

Var Graph::add_op(OpId op, std::vector<Var> inputs, std::shared_ptr<const AttrBase> attr, const std::string& name) {
  const OpDef& def = ops().get(op);
  std::string node_name = scoped(name.empty() ? def.name + "#" + std::to_string(size()) : name);
  for (auto& v : inputs) check_var(v, (std::string("op '") + def.name + "' at node '" + node_name + "'").c_str());
  if (def.num_inputs >= 0)
    ORBIT_CHECK(static_cast<int>(inputs.size()) == def.num_inputs, "op '", def.name, "' at node '", node_name,
                "' takes ", def.num_inputs, " inputs, got ", inputs.size());
  else
    ORBIT_CHECK(!inputs.empty(), "op '", def.name, "' at node '", node_name, "' needs at least one input");
  std::vector<NodeId> ids;
  for (auto& v : inputs) ids.push_back(v.id());
  InferCtx ctx(*this, def.name, node_name, ids, attr.get());
  TypeInfo t = def.infer(ctx);
  Node n;
  n.kind = NodeKind::op;
  n.op = op;
  n.attr = std::move(attr);
  n.inputs = std::move(ids);
  n.shape = t.shape;
  n.dtype = t.dtype;
  n.name = std::move(node_name);
  nodes_.push_back(std::move(n));
  return Var(this, size() - 1);
}

NodeId Graph::add_node_unchecked(Node node) {
  nodes_.push_back(std::move(node));
  return size() - 1;
}

void Graph::replace_input(Var v, int slot, Var new_input) {
  check_var(v, "replace_input");
  check_var(new_input, "replace_input");
  auto& n = nodes_[v.id()];
  ORBIT_CHECK(slot >= 0 && slot < static_cast<int>(n.inputs.size()), "replace_input: node '", n.name,
              "' has no input slot ", slot);
  const Node& ni = nodes_[new_input.id()];
  const Node& old = nodes_[n.inputs[slot]];
  ORBIT_CHECK(ni.shape == old.shape && ni.dtype == old.dtype, "replace_input: node '", n.name, "' slot ", slot,
              " holds ", describe(n.inputs[slot]), ", cannot take ", describe(new_input.id()));
  n.inputs[slot] = new_input.id();
}

std::vector<Var> Graph::inputs() {
  std::vector<Var> r;
  for (int i = 0; i < size(); ++i)
    if (nodes_[i].kind == NodeKind::input) r.emplace_back(this, i);
  return r;
}

std::vector<Var> Graph::params() {
  std::vector<Var> r;
  for (int i = 0; i < size(); ++i)
    if (nodes_[i].kind == NodeKind::parameter) r.emplace_back(this, i);
  return r;
}

Var Graph::find(const std::string& name) {
  for (int i = 0; i < size(); ++i)
    if ((nodes_[i].kind == NodeKind::input || nodes_[i].kind == NodeKind::parameter) && nodes_[i].name == name)
      return Var(this, i);
  return Var();
}

std::string Graph::describe(NodeId id) const {
  const Node& n = node(id);
  return "'" + n.name + "' " + n.shape.str() + " " + dtype_name(n.dtype);
}

std::string Graph::dump() const {
  std::ostringstream os;
  for (int i = 0; i < size(); ++i) {
    const Node& n = nodes_[i];
    os << '%' << i << " = ";
    switch (n.kind) {
      case NodeKind::input: os << "input"; break;
      case NodeKind::parameter: os << "param"; break;
      case NodeKind::constant: os << "const"; break;
      case NodeKind::op:
        os << ops().get(n.op).name;
        if (n.attr) os << ' ' << n.attr->str();
        break;
    }
    os << '(';
    for (size_t k = 0; k < n.inputs.size(); ++k) os << (k ? ", %" : "%") << n.inputs[k];
    os << ") : " << n.shape.str() << ' ' << dtype_name(n.dtype) << "  '" << n.name << "'";
    if (n.kind == NodeKind::constant && n.value.numel() == 1) os << " = " << n.value.at(0);
    os << '\n';
  }
  return os.str();
}

}  // namespace orbit
