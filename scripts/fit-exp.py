#!/usr/bin/python3
"""fit-exp.py: the polynomial of exp(r) on [-ln2/2, ln2/2] that lib/nn/x86/ops_avx512.c
uses for SiLU and sigmoid (expneg512), and its error in float32 arithmetic.

exp(r) ~ 1 + r (c1 + r (c2 + r (c3 + r (c4 + r c5)))): the coefficients minimise the
largest relative error over 4001 Chebyshev nodes (Lawson's iteratively reweighted least
squares, float64).  The fit is then checked as the kernel computes it: the float32
coefficients, Horner with one rounding per fused multiply-add, on 400,001 points of the
interval, against exp in float64.  Prints the C #defines and the error in ulps (units of
2^-23, float32's spacing at 1).

Usage: scripts/fit-exp.py
"""
import numpy as np


def fit(nodes=4001, iters=200):
    half = np.log(2.0) / 2
    x = np.cos(np.linspace(0, np.pi, nodes)) * half
    f = np.exp(x)
    a = np.stack([x ** k for k in range(1, 6)], 1)
    w = np.full_like(x, 1.0 / nodes)
    for _ in range(iters):
        sw = w / f  # relative error
        c, *_ = np.linalg.lstsq(a * sw[:, None], (f - 1) * sw, rcond=None)
        e = (1 + a @ c - f) / f
        w = w * np.sqrt(np.abs(e)) + 1e-300
        w /= w.sum()
    return c, np.abs(e).max()


def float32_error(c):
    half = np.float32(np.log(2.0) / 2)
    r = np.linspace(-half, half, 400001).astype(np.float32)
    c32 = c.astype(np.float32)
    fma = lambda a, b, d: (a.astype(np.float64) * b + np.float64(d)).astype(np.float32)  # noqa: E731
    p = np.full_like(r, c32[4])
    for k in (3, 2, 1, 0):
        p = fma(p, r, c32[k])
    p = fma(p, r, 1.0)
    return np.abs(p / np.exp(r.astype(np.float64)) - 1).max() / 2.0 ** -23


def main():
    c, e = fit()
    for k, v in enumerate(c, 1):
        print("#define EXP_C%d %.9ef" % (k, np.float32(v)))
    print("/* minimax relative error %.3g (float64); float32 Horner with FMA: %.2f ulp */"
          % (e, float32_error(c)))


if __name__ == "__main__":
    main()
