// Builds a graph, differentiates it twice and runs it: d2/dx2 of x^3 at x = 2 is 12.
#include <orbit/orbit.h>
#include <models/nn/mlp.h>

#include <cmath>
#include <memory>
#include <cstdio>

int main() {
  orbit::Graph g;
  auto x = g.input("x", {1}, orbit::DType::f64);
  auto y = orbit::sum(orbit::pow(x, 3.0));
  auto dy = orbit::grad(y, {x})[0];
  auto d2y = orbit::grad(orbit::sum(dy), {x})[0];
  auto prog = orbit::compile(g, {d2y});
  auto out = prog.run({{"x", orbit::Tensor::full({1}, 2.0, orbit::DType::f64)}});
  double v = out[0].item();
  std::printf("orbit %s consumer: d2(x^3)/dx2 at 2 = %g\n", orbit::version(), v);
  // The installed model headers work too: a small MLP runs.
  orbit::Graph h;
  orbit::nn::MLP net(h, "net", {2, 4, 1});
  auto xin = h.input("x", {3, 2});
  auto store = std::make_shared<orbit::ParamStore>();
  net.init(*store, 1);
  orbit::CompileOptions opts;
  opts.params = store;
  auto out2 = orbit::compile(h, {net(xin)}, orbit::Device::cpu(), opts).run({{"x", orbit::Tensor::zeros({3, 2}, orbit::DType::f32)}});
  return std::abs(v - 12.0) < 1e-12 && out2[0].shape() == orbit::Shape({3, 1}) ? 0 : 1;
}
