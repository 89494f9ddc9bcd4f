// The PDE residual and the Lie point symmetry losses of the heat and Burgers equations, built as
// graph ops from the jet of a network (or of any function of (x, t) given as a graph).
//   form A ("point"): pr^(n) v (Delta) for each generator v, derivatives up to the PDE's order;
//   form B ("evolutionary"): the linearised operator applied to each characteristic Q_v, which needs
//   the first derivatives of the residual (third derivatives of u).
// Generators (spec section 4.2), with x measured from the domain centre (a translation, so the
// span of the generators is unchanged): heat v1..v6, Burgers d_x, d_t, Galilean, scaling, projective.
// Each generator's term is divided by the largest magnitude its polynomial coefficients reach over
// the domain (a rescaled generator is still a symmetry), so no term dominates by units alone.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "models/pinn/problem.h"

namespace orbit::pinn {

enum class SymmetryForm { none, point, evolutionary };
SymmetryForm symmetry_form_from_name(const std::string& name);  // "off" | "point" | "evolutionary" (or A / B)
const char* symmetry_form_name(SymmetryForm f);

// u and its partial derivatives at the rows of X = [x, t] (each [N, 1]); third-order entries are
// only built when requested.
struct Jet {
  Var u, ux, ut, uxx, uxt, utt, uxxx, uxxt;
};
Jet make_jet(Var X, const std::function<Var(Var)>& u_of, bool third_order);

Var residual(const Problem& p, const Jet& j);  // Delta, [N, 1]
// One [N, 1] term per generator (form A drops the generators whose term is identically zero).
std::vector<Var> symmetry_terms(const Problem& p, const Jet& j, Var X, SymmetryForm form);
// sum over generators of mean(term^2); a zero scalar for SymmetryForm::none.
Var symmetry_loss(const Problem& p, const Jet& j, Var X, SymmetryForm form);

}  // namespace orbit::pinn
