// The accuracy rule (README, "Accuracy rule"), element by element against the fp64 reference, with a term
// for the f32 logit error that grows with the logits (accuracy.cpp derives every constant):
//   |o − r| ≤ (tol_abs(dtype) + expm1(2·tol_logit(d)·A))·Σₖ pₖ|vₖ| + tol_rel(dtype)·|r|
// where A = max over the row's visible keys of scale·Σᵢ|qᵢkᵢ| (the reference supplies it),
// plus NMSE = Σ(o−r)²/Σr², max abs / rel error and the worst elements with their indices.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/problem.h"
#include "reference/reference.h"

namespace sdpa {

struct Tolerance {
  double abs = 0;    // times Σₖ pₖ|vₖ|: errors carried through P·V
  double rel = 0;    // times |r|: rounding of the output to the storage type
  double logit = 0;  // times A: the bound on a logit's absolute error in an f32 kernel
  double underflow = 0;  // absolute: rounding an output below the type's normal range
};

// The constants for a dtype and head dimension d; accuracy.cpp derives each one.
Tolerance tolerance_for(DType dtype, int64_t d);

// The bound on |o − r| of one element: `abs_pv` is Σₖ pₖ|vₖ| and `abs_qk_max` the row's A.
// (tol.abs + e^{2·tol.logit·A} − 1)·Σₖ pₖ|vₖ| + tol.rel·|r| + tol.underflow (the last where
// Σₖ pₖ|vₖ| > 0: a fully masked row must be exactly 0).
double error_bound(const Tolerance& tol, double abs_pv, double abs_qk_max, double r);

struct BadElement {
  int64_t b = 0, h = 0, s = 0, c = 0;  // index of the element in O (B, H, S, Dv)
  double got = 0, want = 0, bound = 0;
};

struct AccuracyReport {
  Tolerance tol;
  int64_t checked_elems = 0;
  int64_t failed_elems = 0;
  double max_abs_err = 0;
  double max_rel_err = 0;     // |o − r| / |r| over elements with |r| > tiny
  double nmse = 0;            // Σ(o−r)² / Σr²
  double worst_ratio = 0;     // max over elements of |o − r| / bound (≤ 1 passes)
  bool non_finite = false;    // a NaN or inf in the output fails the case outright
  // The reference itself has a NaN or inf (non-finite inputs, see reference.h, or a problem
  // built past the parser's limits): nothing was compared, the case neither passes nor fails.
  bool reference_invalid = false;
  int64_t reference_non_finite_elems = 0;
  std::vector<BadElement> worst;  // the largest |o − r| / bound first; if reference_invalid,
                                  // the first non-finite reference element
  bool pass() const { return failed_elems == 0 && !non_finite && !reference_invalid; }
  bool fail() const { return !pass() && !reference_invalid; }
  // "max_abs=1.2e-04 max_rel=3.4e-03 nmse=5.6e-09 worst=0.12 of bound", or
  // "invalid: reference not finite (...)"
  std::string summary() const;
};

AccuracyReport check_accuracy(const Problem& problem, const std::vector<double>& out,
                              const ReferenceResult& ref, int worst_count = 3);

}  // namespace sdpa
