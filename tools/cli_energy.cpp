// `orbit energy`: energies (and optionally forces -dE/dx) of the configurations in a .npy file, for one
// of the Boltzmann systems (gmm40, dw4, lj13, lj55), evaluated by the fused energy kernels.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "engine/io/npy.h"
#include "engine/orbit.h"
#include "models/systems/system.h"
#include "tools/commands.h"

namespace orbit::cli {

namespace {

int run_energy(const Args& args) {
  const std::string in = args.str("in"), out = args.str("out");
  ORBIT_CHECK(std::filesystem::is_regular_file(in), "no such file '", in, "'");
  systems::System sys = systems::system_by_name(
      args.str("system"), {args.flag("unique-pairs"), args.flag("normalised")});
  ORBIT_CHECK(!args.flag("unique-pairs") || sys.kind == systems::Kind::lennard_jones,
              "--unique-pairs applies to lj13 and lj55 only");
  ORBIT_CHECK(!args.flag("normalised") || sys.kind == systems::Kind::gmm, "--normalised applies to gmm40 only");
  Tensor x = read_npy(in);
  systems::check_configurations(sys, x, "'" + in + "'");
  const Device dev = Device::parse(args.str("device"));
  const bool want_forces = args.has("forces");
  auto t0 = std::chrono::steady_clock::now();
  Tensor grad;
  Tensor e = systems::energies(sys, x, dev, want_forces ? &grad : nullptr);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool f32 = x.dtype() == DType::f32;
  write_npy(out, f32 ? e.cast(DType::f32) : e);
  if (want_forces) {
    Tensor f = Tensor::empty(grad.shape(), DType::f64);
    for (int64_t i = 0; i < grad.numel(); ++i) f.data<double>()[i] = -grad.data<double>()[i];
    if (x.rank() == 1) f = f.reshaped(x.shape());
    write_npy(args.str("forces"), f32 ? f.cast(DType::f32) : f);
  }
  if (!args.flag("quiet")) {
    std::vector<double> v = e.to_vector();
    if (v.empty()) {  // a valid [0, D] file: nothing to summarise (min/max of nothing would print inf / -inf)
      std::printf("%s: 0 configurations in '%s'; wrote an empty %s\n", sys.name.c_str(), in.c_str(), out.c_str());
      return 0;
    }
    double m = 0, lo = INFINITY, hi = -INFINITY;
    for (double u : v) {
      m += u / static_cast<double>(v.size());
      lo = std::min(lo, u);
      hi = std::max(hi, u);
    }
    std::printf("%s: %lld configurations on %s in %.3f s; energy mean %.6g, min %.6g, max %.6g -> %s%s%s\n",
                sys.name.c_str(), static_cast<long long>(v.size()), dev.str().c_str(), seconds, m, lo, hi,
                out.c_str(), want_forces ? ", forces -> " : "", want_forces ? args.str("forces").c_str() : "");
  }
  return 0;
}

}  // namespace

Command energy_command() {
  return Command("energy", "energies (and forces) of Boltzmann-system configurations in a .npy", {
      {"system", "gmm40, dw4, lj13 or lj55", "", false, true},
      {"in", "configurations .npy: [N, n_particles * dim] (or one [n_particles * dim]), f32 or f64", "", false, true},
      {"out", "energies .npy [N] (f32 input: f32, else f64)", "", false, true},
      {"forces", "also write the forces -dE/dx to this .npy (shaped like the input)"},
      {"unique-pairs", "LJ: the textbook unique-pair sum (default: iDEM's ordered pairs, 2x, as the reference data)",
       "", true},
      {"normalised", "GMM: coordinates in iDEM's normalised units (E evaluated at 50 x)", "", true}},
      run_energy);
}

}  // namespace orbit::cli
