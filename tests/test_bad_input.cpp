// Every bad input is reported as an orbit::Error whose message names the problem: the op, the nodes
// involved and their shapes at build time; the feed, parameter or node at run time.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "engine/orbit.h"
#include "tests/error_of.h"

using namespace orbit;

namespace {

using testing::error_of;

}  // namespace

// Checks that `expr` throws orbit::Error and that the message contains every given key word.
#define CHECK_ERROR(expr, ...)                                                                   \
  do {                                                                                           \
    const std::string msg_ = error_of([&] { (void)(expr); });                                     \
    INFO("error message: ", msg_);                                                               \
    CHECK(!msg_.empty()); /* empty: no orbit::Error was thrown */                                \
    for (const char* key_ : {__VA_ARGS__}) {                                                     \
      INFO("expected key word: ", key_);                                                         \
      CHECK(msg_.find(key_) != std::string::npos);                                               \
    }                                                                                            \
  } while (0)

TEST_SUITE("cpu") {

TEST_CASE("bad input: binary ops whose shapes do not broadcast name the op, both nodes and both shapes") {
  Graph g;
  Var a = g.input("alpha", {2, 3});
  Var b = g.input("beta", {4});
  CHECK_ERROR(a + b, "op 'add'", "'alpha'", "'beta'", "[2, 3]", "[4]", "broadcast");
  CHECK_ERROR(sub(a, b), "op 'sub'", "'alpha'", "'beta'", "[2, 3]", "[4]");
  CHECK_ERROR(mul(b, a), "op 'mul'", "'alpha'", "'beta'", "[2, 3]", "[4]");
  CHECK_ERROR(maximum(a, b), "op 'maximum'", "'alpha'", "'beta'");
  Var c = g.input("gamma", {3, 2});
  CHECK_ERROR(where(a, a, c), "op 'where'", "'alpha'", "'gamma'", "[3, 2]");
  // A named node appears under its own name.
  Var s = (a * 2.0).named("scaled");
  CHECK_ERROR(div(s, b), "op 'div'", "'scaled'", "'beta'", "[2, 3]", "[4]");
  // Nothing was added by the failed builds: broadcasting cases that are legal still work.
  CHECK(add(a, g.input("row", {3})).shape() == Shape{2, 3});
  CHECK(add(a, g.input("colv", {2, 1})).shape() == Shape{2, 3});
}

TEST_CASE("bad input: matmul inner dimension mismatch and rank errors") {
  Graph g;
  Var a = g.input("a", {3, 4});
  Var b = g.input("b", {5, 6});
  CHECK_ERROR(matmul(a, b), "op 'matmul'", "inner dimensions differ", "4 vs 5", "'a'", "'b'", "[3, 4]", "[5, 6]");
  CHECK_ERROR(matmul(a, b, false, true), "op 'matmul'", "4 vs 6");
  CHECK_ERROR(matmul(a, b, true, false), "op 'matmul'", "3 vs 5");
  Var v = g.input("v", {4});
  CHECK_ERROR(matmul(a, v), "op 'matmul'", "2 dimensions", "'v'", "[4]");
  Var b3 = g.input("b3", {2, 4, 2});
  Var a3 = g.input("a3", {3, 3, 4});
  CHECK_ERROR(matmul(a3, b3), "op 'matmul'", "batch dimensions do not broadcast");
  CHECK(matmul(a, g.input("ok", {4, 2})).shape() == Shape{3, 2});
}

TEST_CASE("bad input: mismatched dtypes") {
  Graph g;
  Var a = g.input("a32", {3}, DType::f32);
  Var b = g.input("b64", {3}, DType::f64);
  CHECK_ERROR(a + b, "op 'add'", "different dtypes", "f32", "f64", "'a32'", "'b64'");
  CHECK_ERROR(a * b, "op 'mul'", "different dtypes");
  CHECK_ERROR(matmul(g.input("m32", {2, 2}), g.input("m64", {2, 2}, DType::f64)), "op 'matmul'", "different dtypes");
  CHECK_ERROR(concat({a, b}), "op 'concat'", "different dtypes");
  // A double scalar on the right takes the tensor's dtype, so mixing is only an error between tensors.
  CHECK((b + 1.0).dtype() == DType::f64);
}

TEST_CASE("bad input: transcendental and float-only ops on integer tensors") {
  Graph g;
  Var i = g.input("counts", {4}, DType::i32);
  Var l = g.input("ids", {4}, DType::i64);
  CHECK_ERROR(exp(i), "op 'exp'", "f32 or f64", "i32", "'counts'");
  CHECK_ERROR(log(l), "op 'log'", "i64", "'ids'");
  CHECK_ERROR(sqrt(i), "op 'sqrt'", "i32");
  CHECK_ERROR(tanh(i), "op 'tanh'", "i32");
  CHECK_ERROR(sin(i), "op 'sin'", "i32");
  CHECK_ERROR(sigmoid(i), "op 'sigmoid'", "i32");
  CHECK_ERROR(pow(i, 2.0), "op 'pow_scalar'", "i32");
  CHECK_ERROR(i / i, "op 'div'", "i32");
  CHECK_ERROR(mean(i), "op 'reduce_mean'", "i32");
  CHECK_ERROR(softmax(i), "op 'softmax'", "i32");
  CHECK_ERROR(matmul(g.input("im", {2, 2}, DType::i32), g.input("im2", {2, 2}, DType::i32)), "op 'matmul'", "i32");
  CHECK_ERROR(g.param("w_int", {2}, DType::i32), "parameter 'w_int'", "i32");
  // Integer arithmetic that is defined stays legal.
  CHECK((i + i).dtype() == DType::i32);
  CHECK(abs(l).dtype() == DType::i64);
}

TEST_CASE("bad input: reshape to the wrong number of elements") {
  Graph g;
  Var x = g.input("x", {2, 3});
  CHECK_ERROR(reshape(x, {5}), "op 'reshape'", "6 elements", "[5]", "'x'", "[2, 3]");
  CHECK_ERROR(reshape(x, {4, -1}), "reshape", "'x'", "-1");
  CHECK_ERROR(reshape(x, {-1, -1}), "reshape", "more than one -1");
  CHECK_ERROR(reshape(x, {-2, 3}), "reshape", "negative dimension");
  CHECK(reshape(x, {3, -1}).shape() == Shape{3, 2});
}

TEST_CASE("bad input: shapes whose element count overflows 64 bits") {
  const int64_t big = int64_t{1} << 32;
  CHECK_ERROR(Shape({big, big}), "too many elements");
  CHECK_ERROR(Shape({big, big, 0}), "too many elements");  // empty, but numel() would overflow on the way
  CHECK_ERROR(Shape(std::vector<int64_t>{0, big, big}), "too many elements");
  CHECK(Shape({big, big / 4}).numel() == (int64_t{1} << 62));
  CHECK(Shape({big, 0, 7}).numel() == 0);
  Graph g;
  CHECK_ERROR(g.input("x", {big, big}), "too many elements");
  // 2^62 f64 elements fit the count but not the bytes (they would wrap to a zero-byte allocation).
  CHECK_ERROR(Tensor::empty({big, big / 4}, DType::f64), "[4294967296, 1073741824]", "f64", "2^63 bytes");
}

TEST_CASE("bad input: permutations that are not permutations") {
  Graph g;
  Var x = g.input("x", {2, 3, 4});
  CHECK_ERROR(permute(x, {0, 0, 1}), "op 'permute'", "not a permutation", "'x'", "[2, 3, 4]");
  CHECK_ERROR(permute(x, {0, 1, 3}), "op 'permute'", "not a permutation");
  CHECK_ERROR(permute(x, {0, -1, 2}), "op 'permute'", "not a permutation");
  CHECK_ERROR(permute(x, {1, 0}), "op 'permute'", "2 entries", "rank-3");
  CHECK_ERROR(transpose(x, 0, 3), "transpose", "axis 3");
  CHECK(permute(x, {2, 0, 1}).shape() == Shape{4, 2, 3});
}

TEST_CASE("bad input: slices out of range") {
  Graph g;
  Var x = g.input("x", {4, 5});
  CHECK_ERROR(slice(x, 0, 0, 10), "op 'slice'", "[0, 10)", "axis 0", "[0, 4]", "'x'");
  CHECK_ERROR(slice(x, 1, 3, 2), "op 'slice'", "[3, 2)", "axis 1");
  CHECK_ERROR(slice(x, 0, -9, 2), "op 'slice'", "axis 0");
  CHECK_ERROR(slice(x, 2, 0, 1), "slice", "axis 2", "rank 2");
  CHECK_ERROR(slice(x, {0}, {1}), "op 'slice'", "1 entries", "rank-2");
  CHECK_ERROR(pad(x, {0, -1}, {0, 0}), "op 'pad'", "negative padding");
  CHECK(slice(x, 1, -2, 5).shape() == Shape{4, 2});
}

TEST_CASE("bad input: gather and segment_sum index tensors") {
  Graph g;
  Var x = g.input("table", {5, 3});
  Var fidx = g.input("fidx", {2}, DType::f32);
  Var idx2 = g.input("idx2", {2, 2}, DType::i32);
  CHECK_ERROR(gather(x, fidx), "op 'gather'", "i32 or i64", "f32", "'fidx'", "'table'");
  CHECK_ERROR(gather(x, idx2), "op 'gather'", "1-D", "[2, 2]", "'idx2'");
  CHECK_ERROR(gather(x, g.input("ok_idx", {2}, DType::i32), 2), "gather", "axis 2");

  Var ids = g.input("ids", {4}, DType::i64);
  CHECK_ERROR(segment_sum(x, ids, 3), "op 'segment_sum'", "4 segment ids", "5 entries", "'ids'", "'table'");
  CHECK_ERROR(segment_mean(x, ids, 3), "op 'segment_mean'", "4 segment ids", "5 entries");
  CHECK_ERROR(segment_sum(x, g.input("fids", {5}), 3), "op 'segment_sum'", "i32 or i64", "'fids'");
  CHECK_ERROR(segment_sum(x, g.input("ids5", {5}, DType::i32), -1), "op 'segment_sum'", "negative");
  CHECK(segment_sum(x, g.input("good", {3}, DType::i32), 2, 1).shape() == Shape{5, 2});
}

TEST_CASE("bad input: grad of a non-scalar without a seed, and a seed of the wrong shape") {
  Graph g;
  Var x = g.input("x", {3});
  Var y = (x * x).named("y");
  CHECK_ERROR(grad(y, {x}), "grad", "'y'", "[3]", "not a scalar", "seed");
  Var bad_seed = g.input("seed", {4});
  CHECK_ERROR(grad(y, {x}, bad_seed), "grad", "seed", "'seed' [4]", "'y' [3]");
  Var bad_dtype = g.input("seed64", {3}, DType::f64);
  CHECK_ERROR(grad(y, {x}, bad_dtype), "grad", "seed", "f64");
  Var ix = g.input("ix", {3}, DType::i32);
  CHECK_ERROR(grad(sum(cast(ix, DType::f32)), {ix}), "grad", "'ix'", "i32");
  CHECK_ERROR(grad(sum(ix), {x}), "grad", "i32", "differentiable");
  CHECK_ERROR(grad(Var(), {x}), "grad", "empty Var");
  // With a matching seed it works; a rank-2 one-element output needs no seed.
  CHECK(grad(y, {x}, g.input("seed_ok", {3}))[0].shape() == Shape{3});
  CHECK(grad(sum(y, {0}, true), {x})[0].shape() == Shape{3});
}

TEST_CASE("bad input: a cycle made with Graph::replace_input is rejected by compile, naming the cycle") {
  Graph g;
  Var x = g.input("x", {3});
  Var a = exp(x).named("a");
  Var b = tanh(a).named("b");
  Var c = (b * 2.0).named("c");
  // a now reads c: a -> c -> b -> a.
  g.replace_input(a, 0, c);
  for (bool optimize : {true, false}) {
    CAPTURE(optimize);
    CompileOptions o;
    o.optimize = optimize;
    CHECK_ERROR(compile(g, {c}, Device::cpu(), o), "cycle", "'a'", "'b'", "'c'");
  }
  // grad over the rewired graph fails too, instead of recursing forever.
  CHECK_ERROR(grad(sum(c), {x}), "grad", "cycle");

  // A self-loop.
  Graph h;
  Var y = h.input("y", {2});
  Var n = neg(y).named("self");
  h.replace_input(n, 0, n);
  CHECK_ERROR(compile(h, {n}), "cycle", "'self'");

  // replace_input itself checks the slot and the type.
  CHECK_ERROR(g.replace_input(b, 1, x), "replace_input", "'b'", "slot 1");
  CHECK_ERROR(g.replace_input(b, 0, g.input("wide", {4})), "replace_input", "'b'", "'wide' [4]");
}

TEST_CASE("bad input: Vars of another graph, and empty Vars") {
  Graph g1, g2;
  Var x1 = g1.input("x1", {2});
  Var x2 = g2.input("x2", {2});
  CHECK_ERROR(x1 + x2, "op 'add'", "'x2'", "another graph");
  CHECK_ERROR(concat({x1, x2}), "op 'concat'", "'x2'", "another graph");
  CHECK_ERROR(compile(g1, {x2}), "compile", "'x2'", "another graph");
  CHECK_ERROR(grad(sum(x1), {x2}), "grad", "graph");
  CHECK_ERROR(grad(sum(x1 * x1), {x1}, g2.input("s2", {})), "grad", "seed", "another graph");
  // A copied graph is a different graph: Vars keep pointing at the original.
  Graph copy = g1;
  CHECK_ERROR(compile(copy, {x1}), "compile", "another graph");

  Var empty;
  CHECK_ERROR(neg(empty), "empty Var");
  CHECK_ERROR(x1 + empty, "op 'add'", "empty Var");
  CHECK_ERROR(empty * x1, "empty Var");
  CHECK_ERROR(empty.shape(), "empty Var");
  CHECK_ERROR(compile(g1, {empty}), "compile", "empty Var");
  CHECK_ERROR(compile(g1, {}), "compile", "no outputs");
  CHECK_ERROR(g1.input("", {1}), "need a name");
}

TEST_CASE("bad input: feeds at run time") {
  Graph g;
  Var x = g.input("x", {2, 3});
  Var y = g.input("y", {3}, DType::f64);
  Var unused = g.input("unused", {1});
  Var out = sum(x) + cast(sum(y), DType::f32);
  Program p = compile(g, {out});
  Tensor xv = Tensor::full({2, 3}, 1.0, DType::f32);
  Tensor yv = Tensor::full({3}, 2.0, DType::f64);

  // Missing feeds name the input, its shape and dtype.
  CHECK_ERROR(p.run({{"x", xv}}), "missing feed", "'y' [3] f64");
  CHECK_ERROR(p.run({}), "missing feed", "'x'", "'y'");
  // Wrong shape / dtype name the feed and both types.
  CHECK_ERROR(p.run({{"x", Tensor::full({3, 2}, 1.0, DType::f32)}, {"y", yv}}), "feed 'x'", "[3, 2]", "[2, 3]");
  CHECK_ERROR(p.run({{"x", xv}, {"y", Tensor::full({3}, 2.0, DType::f32)}}), "feed 'y'", "f32", "f64");
  // Unknown names list the inputs there are.
  CHECK_ERROR(p.run({{"x", xv}, {"y", yv}, {"z", xv}}), "feed 'z'", "not an input", "'x'", "'y'");
  CHECK_ERROR(p.run({{"x", xv}, {"x", xv}, {"y", yv}}), "'x'", "fed twice");
  CHECK_ERROR(p.run({{"x", Tensor()}, {"y", yv}}), "feed 'x'", "empty");
  // NaN in a feed is rejected by the default options, with its position.
  Tensor nan_y = Tensor::from<double>({3}, {1.0, std::nan(""), 3.0});
  CHECK_ERROR(p.run({{"x", xv}, {"y", nan_y}}), "feed 'y'", "NaN", "index 1");

  // After all these failures the program still runs correctly; an input the outputs do not need
  // may be fed or left out.
  auto r = p.run({{"x", xv}, {"y", yv}});
  CHECK(r[0].item() == 12.0);
  r = p.run({{"x", xv}, {"y", yv}, {"unused", Tensor::full({1}, 0.0, DType::f32)}});
  CHECK(r[0].item() == 12.0);

  // With the check off, NaN flows through.
  CompileOptions off;
  off.numerics = NumericsCheck::off;
  Program q = compile(g, {out}, Device::cpu(), off);
  CHECK(std::isnan(q.run({{"x", xv}, {"y", nan_y}})[0].item()));
  (void)unused;
}

TEST_CASE("bad input: parameters without a value, or with a bad one") {
  Graph g;
  Var w = g.param("layer/w", {2});
  Var x = g.input("x", {2});
  Var out = sum(w * x);
  Tensor xv = Tensor::full({2}, 1.0, DType::f32);

  Program no_store = compile(g, {out});
  CHECK_ERROR(no_store.run({{"x", xv}}), "parameter 'layer/w'", "no value", "ParamStore");

  CompileOptions o;
  o.params = std::make_shared<ParamStore>();
  Program p = compile(g, {out}, Device::cpu(), o);
  CHECK_ERROR(p.run({{"x", xv}}), "parameter 'layer/w'", "no value");
  o.params->set("layer/w", Tensor::full({3}, 1.0, DType::f32));
  CHECK_ERROR(p.run({{"x", xv}}), "parameter 'layer/w'", "[3]", "[2]");
  o.params->set("layer/w", Tensor::from<float>({2}, {1.0f, std::numeric_limits<float>::quiet_NaN()}));
  CHECK_ERROR(p.run({{"x", xv}}), "parameter 'layer/w'", "NaN", "index 1");
  o.params->set("layer/w", Tensor::from<float>({2}, {1.0f, 2.0f}));
  CHECK(p.run({{"x", xv}})[0].item() == 3.0);
  // Feeding a parameter overrides the store (and is checked like any feed).
  CHECK(p.run({{"x", xv}, {"layer/w", Tensor::full({2}, 5.0, DType::f32)}})[0].item() == 10.0);
  CHECK_ERROR(p.run({{"x", xv}, {"layer/w", Tensor::full({2}, 5.0, DType::f64)}}), "feed 'layer/w'", "f64");
}

TEST_CASE("bad input: gather indices out of range at run time") {
  Graph g;
  Var table = g.input("table", {4, 2}, DType::f64);
  Var idx = g.input("idx", {3}, DType::i32);
  Var out = gather(table, idx).named("lookup");
  Program p = compile(g, {out});
  Tensor t = Tensor::from<double>({4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  CHECK_ERROR(p.run({{"table", t}, {"idx", Tensor::from<int32_t>({3}, {0, 7, 1})}}), "'lookup'", "index 7",
              "position 1", "[0, 4)");
  CHECK_ERROR(p.run({{"table", t}, {"idx", Tensor::from<int32_t>({3}, {0, 1, -1})}}), "'lookup'", "index -1",
              "position 2");
  // Along axis 1, and with i64 indices.
  Var idx64 = g.input("idx64", {2}, DType::i64);
  Program q = compile(g, {gather(table, idx64, 1).named("cols")});
  CHECK_ERROR(q.run({{"table", t}, {"idx64", Tensor::from<int64_t>({2}, {2, 0})}}), "'cols'", "index 2", "[0, 2)");
  // The failures leave the program usable.
  auto r = p.run({{"table", t}, {"idx", Tensor::from<int32_t>({3}, {3, 0, 3})}});
  CHECK(r[0].to_vector() == std::vector<double>{6, 7, 0, 1, 6, 7});
}

TEST_CASE("bad input: segment ids out of range, or promised sorted but unsorted") {
  Graph g;
  Var x = g.input("x", {4}, DType::f64);
  Var ids = g.input("ids", {4}, DType::i32);
  Program unsorted = compile(g, {segment_sum(x, ids, 3).named("seg")});
  Program sorted = compile(g, {segment_sum(x, ids, 3, 0, true).named("seg_sorted")});
  Program mean_sorted = compile(g, {segment_mean(x, ids, 3, 0, true).named("segm")});
  Tensor xv = Tensor::from<double>({4}, {1, 2, 3, 4});
  auto feed = [&](std::vector<int32_t> v) { return Feeds{{"x", xv}, {"ids", Tensor::from<int32_t>({4}, v)}}; };

  CHECK_ERROR(unsorted.run(feed({0, 1, 3, 2})), "'seg'", "segment id 3", "position 2", "[0, 3)");
  CHECK_ERROR(unsorted.run(feed({0, -1, 1, 2})), "'seg'", "segment id -1", "position 1");
  CHECK_ERROR(sorted.run(feed({0, 5, 1, 2})), "'seg_sorted'", "segment id 5");
  CHECK_ERROR(sorted.run(feed({0, 2, 1, 2})), "'seg_sorted'", "sorted", "position 2");
  CHECK_ERROR(mean_sorted.run(feed({1, 0, 0, 0})), "'segm'", "sorted", "position 1");
  // Unsorted ids are fine when no promise was made, and sorted ones are fine either way.
  CHECK(unsorted.run(feed({2, 0, 2, 1}))[0].to_vector() == std::vector<double>{2, 4, 4});
  CHECK(sorted.run(feed({0, 0, 2, 2}))[0].to_vector() == std::vector<double>{3, 0, 7});
}

TEST_CASE("bad input: NumericsCheck::all names the op that produced a NaN or an infinity") {
  Graph g;
  Var x = g.input("x", {3}, DType::f64);
  Var l = log(x).named("the_log");
  Var out = sum(l * 2.0);
  CompileOptions all;
  all.numerics = NumericsCheck::all;
  Program p = compile(g, {out}, Device::cpu(), all);
  CHECK_ERROR(p.run({{"x", Tensor::from<double>({3}, {1.0, -2.0, 3.0})}}), "op 'log'", "'the_log'", "nan",
              "index 1");
  // log(0) = -inf is caught as well.
  CHECK_ERROR(p.run({{"x", Tensor::from<double>({3}, {1.0, 2.0, 0.0})}}), "op 'log'", "'the_log'", "inf",
              "index 2");
  // A division by zero further down.
  Var d = (x / (x - x)).named("ratio");
  Program q = compile(g, {d}, Device::cpu(), all);
  CHECK_ERROR(q.run({{"x", Tensor::from<double>({3}, {1.0, 2.0, 3.0})}}), "op 'div'", "'ratio'");
  // Good inputs pass, and the default options let the NaN through to the result.
  CHECK(p.run({{"x", Tensor::from<double>({3}, {1.0, 1.0, 1.0})}})[0].item() == 0.0);
  Program lax = compile(g, {out});
  CHECK(std::isnan(lax.run({{"x", Tensor::from<double>({3}, {1.0, -2.0, 3.0})}})[0].item()));
}

TEST_CASE("bad input: duplicate input and parameter names") {
  Graph g;
  g.input("x", {2});
  CHECK_ERROR(g.input("x", {3}), "duplicate", "'x'");
  CHECK_ERROR(g.param("x", {2}), "duplicate", "'x'");
  g.param("w", {2});
  CHECK_ERROR(g.input("w", {2}), "duplicate", "'w'");
  {
    Graph::Scope s(g, "layer");
    g.input("x", {2});  // "layer/x" is a different name
    CHECK_ERROR(g.param("x", {1}), "duplicate", "'layer/x'");
  }
  CHECK(g.find("layer/x").valid());
  CHECK_FALSE(g.find("nope").valid());
  CHECK_ERROR(g.input("x", {2}).named("y"), "duplicate");
}

TEST_CASE("bad input: device specs, dtype names and axes") {
  for (const char* spec : {"gpu7", "gpu", "", "CPU", " cpu", "cpu:0", "cuda:", "cudax", "cuda:x", "cuda:1x",
                           "cuda:-1", "cuda:99999999999999", "tpu"}) {
    CAPTURE(spec);
    CHECK_ERROR(Device::parse(spec), "'", "device");
  }
  CHECK_ERROR(Device::parse("gpu7"), "unknown device 'gpu7'", "cuda:N");
  CHECK(Device::parse("cpu") == Device::cpu());
  if (!cuda_built()) CHECK_ERROR(Device::parse("cuda"), "no CUDA backend");
  CHECK_ERROR(dtype_from_name("f16"), "unknown dtype 'f16'");

  Graph g;
  Var x = g.input("x", {2, 3});
  CHECK_ERROR(sum(x, {2}), "sum", "axis 2", "rank 2");
  CHECK_ERROR(sum(x, {0, -2}), "sum", "repeated axis");
  CHECK_ERROR(softmax(x, -3), "softmax", "axis -3");
  CHECK_ERROR(broadcast_to(x, {3, 3}), "op 'broadcast_to'", "[3, 3]", "'x'");
  CHECK_ERROR(concat({x, g.input("z", {2, 4})}, 0), "op 'concat'", "differs on axis 1");
  CHECK_ERROR(clamp(x, 1.0, 0.0), "clamp", "'x'");
  CHECK_ERROR(g.input("big", {1, 1, 1, 1, 1, 1, 1}), "at most 6");
  CHECK_ERROR(Tensor::from<float>({2}, {1.0f}), "1 values", "[2]");
}

}  // TEST_SUITE
