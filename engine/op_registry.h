// The op registry: one registration gives an op its type inference, its VJP rule (written in graph
// ops, so gradients of gradients work), and a kernel per device. Built-in and custom ops alike.
#pragma once
#include <array>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/graph.h"

namespace orbit {

struct TypeInfo {
  Shape shape;
  DType dtype = DType::f32;
};

// What type inference sees: the inputs' types and names, and a way to fail with context.
class InferCtx {
 public:
  InferCtx(const Graph& g, const std::string& op, const std::string& node_name, std::span<const NodeId> inputs,
           const AttrBase* attr)
      : g_(g), op_(op), node_(node_name), inputs_(inputs), attr_(attr) {}
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const Shape& shape(int i) const { return g_.node(inputs_[i]).shape; }
  DType dtype(int i) const { return g_.node(inputs_[i]).dtype; }
  const Node& input(int i) const { return g_.node(inputs_[i]); }
  template <class A>
  const A& attr() const {
    auto* a = dynamic_cast<const A*>(attr_);
    if (!a) fail("missing attributes of kind ", A::kName);
    return *a;
  }
  // Throws orbit::Error: "op 'matmul' at node 'mlp/mm0': <message>; inputs: 'x' [3, 4] f32, ...".
  template <class... Args>
  [[noreturn]] void fail(const Args&... args) const {
    throw Error(detail::cat("op '", op_, "' at node '", node_, "': ", args..., "; inputs: ", inputs_str()));
  }
  std::string inputs_str() const;

 private:
  const Graph& g_;
  const std::string& op_;
  const std::string& node_;
  std::span<const NodeId> inputs_;
  const AttrBase* attr_;
};

// What a VJP rule sees. It returns one gradient per input; an invalid Var means "no gradient".
struct VjpCtx {
  Graph& g;
  NodeId node;
  Var grad;  // the cotangent of the node's output
  Var out() const { return Var(&g, node); }
  Var in(int i) const { return Var(&g, g.node(node).inputs[i]); }
  const Node& n() const { return g.node(node); }
  template <class A>
  const A& attr() const { return g.node(node).attr_as<A>(); }
};

// What a kernel sees: its node, input tensors (on the kernel's device) and the output to fill.
struct KernelCtx {
  const Node& node;
  std::span<const Tensor> in;
  Tensor& out;
  uint64_t run_index;  // increments every Program::run (random ops draw fresh numbers)
  void* stream;        // the backend stream (nullptr on the CPU)
  // CUDA programs replayed as CUDA graphs: the device word that holds run_index at replay time
  // (kernel arguments are frozen when the graph is captured, so a random op must read its counter
  // from here whenever it is not null). Null when the program runs eagerly.
  const uint64_t* run_index_dev = nullptr;
};

using Kernel = std::function<void(KernelCtx&)>;
using InferFn = std::function<TypeInfo(const InferCtx&)>;
using VjpFn = std::function<std::vector<Var>(VjpCtx&)>;

struct OpDef {
  std::string name;
  int num_inputs = 1;  // -1: variadic (at least one)
  InferFn infer;
  VjpFn vjp;
  std::array<Kernel, Device::kNumKinds> kernels;
  bool elementwise = false;  // output element i depends on input element i (after broadcasting)
  bool random = false;       // never constant-folded
  // The CUDA kernel may be recorded into a CUDA graph and replayed (Program, CompileOptions::cuda_graph):
  // it does not synchronise or read device results on the host, takes temporaries only through
  // cuda::scratch, and reads nothing at launch time that can change between runs except through its
  // tensors (random ops read KernelCtx::run_index_dev when it is set). Custom ops that cannot promise
  // this set it to false; programs holding one run eagerly.
  bool graph_safe = true;
  bool zero_grad = false;    // piecewise constant: the VJP is zero (comparisons, sign)
};

class OpRegistry {
 public:
  OpId add(OpDef def);  // throws if the name is taken
  const OpDef& get(OpId id) const;
  OpDef& mutable_get(OpId id);
  OpId find(const std::string& name) const;  // throws naming the unknown op
  bool has(const std::string& name) const;
  int size() const { return static_cast<int>(defs_.size()); }

 private:
  std::vector<OpDef> defs_;
};

// The process-wide registry, with the built-in ops and the CPU kernels registered on first use.
OpRegistry& ops();

}  // namespace orbit
