// Helpers shared by the files that define the built-in ops.
#pragma once
#include "engine/builtin_ops.h"
#include "engine/op_registry.h"
#include "engine/ops.h"

namespace orbit::detail {

// Registers `def` under `name` and checks it lands on the id its Op enum value promises.
inline void define(OpRegistry& r, Op op, const char* name, OpDef def) {
  def.name = name;
  OpId got = r.add(std::move(def));
  ORBIT_CHECK(got == id(op), "built-in op '", name, "' registered as id ", got, ", expected ", id(op));
}

inline void require_float(const InferCtx& c, int i) {
  if (!is_float(c.dtype(i))) c.fail("input ", i, " must be f32 or f64, got ", dtype_name(c.dtype(i)));
}

inline void require_index(const InferCtx& c, int i) {
  if (!is_int(c.dtype(i))) c.fail("input ", i, " must be an i32 or i64 index tensor, got ", dtype_name(c.dtype(i)));
  if (c.shape(i).rank() != 1) c.fail("input ", i, " must be a 1-D index tensor, got shape ", c.shape(i).str());
}

}  // namespace orbit::detail
