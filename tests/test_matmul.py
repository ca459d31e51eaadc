"""ops.matmul and ops.gemm against the NumPy reference, on every GEMM path this CPU can run.

Tolerance: a float32 (float64) kernel result is compared with the float64 reference computed on
the same inputs.  Each entry is a length-K sum of products, so its rounding error is at most
about K * eps * max|a| * max|b| (reduction_bound); the BLAS update alpha*P + beta*C adds a few
more roundings of |alpha*P| and |beta*C|.  Results must not depend on the thread count at all.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chalknet
from chalknet import ops, reference
from op_compare import assert_identical, assert_within, reduction_bound

ISAS = ops.available_isas()
DTYPES = [np.float32, np.float64]
PRIMES = [2, 3, 5, 7, 11, 13, 17, 31, 37, 61, 97, 127, 131, 251, 257, 293]


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test on one GEMM path (ops._set_isa), then restore the detected one."""
    before = chalknet.build_info()["simd"]
    assert ops._set_isa(request.param) == request.param
    yield request.param
    ops._set_isa(before)


@pytest.fixture
def threads():
    """Restore the thread count a test changes."""
    before = chalknet.get_num_threads()
    yield
    chalknet.set_num_threads(before)


def operands(rng, m, n, k, transpose_a, transpose_b, dtype):
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    return a, b


def check_matmul(a, b, transpose_a, transpose_b, dtype):
    k = a.shape[0] if transpose_a else a.shape[1]
    want = reference.matmul(a.astype(np.float64), b.astype(np.float64), transpose_a, transpose_b)
    got = ops.matmul(a, b, transpose_a, transpose_b)
    assert_within("matmul", got, want, reduction_bound(k, dtype, a, b), dtype)


# ----- values ---------------------------------------------------------------------------------

sizes = st.one_of(st.integers(1, 300), st.sampled_from(PRIMES))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=sizes, n=sizes, k=sizes, transpose_a=st.booleans(), transpose_b=st.booleans(),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_random_shapes_match_reference(isa, m, n, k, transpose_a, transpose_b, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype)
    check_matmul(a, b, transpose_a, transpose_b, dtype)


EDGE_SHAPES = [  # (m, n, k)
    (1, 1, 1),        # one multiply
    (1, 300, 7),      # one row
    (300, 1, 7),      # one column
    (17, 23, 1),      # K = 1
    (2000, 3, 5),     # very tall
    (3, 2000, 5),     # very wide
    (5, 3, 3000),     # long reduction, several k blocks
    (12, 32, 256),    # exactly one AVX-512 float tile and k block
    (13, 33, 257),    # one past every tile and block edge
    (64, 10, 256),    # the MLP output layer: one narrow column panel (A read in place)
    (64, 256, 784),   # the MLP hidden layer: balanced k blocks
    (30, 1030, 1000),  # a 2 MB packed B panel: column panels outside (L2 up to 4 MB)
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transpose_a, transpose_b",
                         [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("m, n, k", EDGE_SHAPES)
def test_edge_shapes_match_reference(isa, m, n, k, transpose_a, transpose_b, dtype):
    rng = np.random.default_rng(m * 7919 + n * 31 + k)
    a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype)
    check_matmul(a, b, transpose_a, transpose_b, dtype)


def test_small_hand_computed_product():
    a = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    b = np.array([[1, 0], [0, 1], [2, -1]], dtype=np.float32)
    want = np.array([[7, -1], [16, -1]], dtype=np.float64)  # worked out by hand
    assert_identical("matmul", ops.matmul(a, b), want.astype(np.float32), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (1.0, 1.0), (-0.5, 2.0), (2.0, 0.0),
                                         (0.0, 3.0), (1.5, -1.0)])
@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, True)])
def test_gemm_alpha_beta(isa, dtype, alpha, beta, transpose_a, transpose_b):
    rng = np.random.default_rng(5)
    m, n, k = 45, 70, 300
    a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    a64, b64, c64 = a.astype(np.float64), b.astype(np.float64), c.astype(np.float64)
    product = reference.matmul(a64, b64, transpose_a, transpose_b)
    want = reference.gemm(a64, b64, c64.copy(), alpha, beta, transpose_a, transpose_b)
    got = ops.gemm(a, b, c, alpha, beta, transpose_a, transpose_b)
    assert got is c
    # The product's rounding scaled by alpha, then three roundings (alpha*P, beta*C, the sum).
    eps = np.finfo(dtype).eps
    bound = (abs(alpha) * reduction_bound(k, dtype, a, b)
             + 3 * eps * (abs(alpha) * np.max(np.abs(product)) + abs(beta) * np.max(np.abs(c64))))
    assert_within("c", got, want, bound, dtype)


def test_gemm_beta_zero_ignores_nan_in_c(isa):
    rng = np.random.default_rng(6)
    a, b = operands(rng, 20, 40, 30, False, False, np.float32)
    c = np.full((20, 40), np.nan, dtype=np.float32)
    ops.gemm(a, b, c, 1.0, 0.0)
    assert np.isfinite(c).all()
    check = ops.gemm(a, b, np.full((20, 40), np.nan, np.float32), 0.0, 0.0)
    assert_identical("c", check, np.zeros((20, 40), np.float32), np.float32)


def test_k_zero_gives_zeros():
    got = ops.matmul(np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32))
    assert_identical("matmul", got, np.zeros((3, 4), np.float32), np.float32)


def test_empty_output():
    got = ops.matmul(np.zeros((0, 5), np.float64), np.zeros((5, 4), np.float64))
    assert got.shape == (0, 4) and got.dtype == np.float64


# ----- conversions ----------------------------------------------------------------------------

def test_non_contiguous_inputs_are_converted():
    rng = np.random.default_rng(2)
    base_a = rng.standard_normal((60, 80)).astype(np.float32)
    base_b = rng.standard_normal((90, 70)).astype(np.float32)
    a = base_a[::2, 1::2]              # (30, 40), strided
    b = np.asfortranarray(base_b)[:40]  # (40, 70), Fortran order
    check_matmul(a, b, False, False, np.float32)
    check_matmul(base_a.T[:, :30], base_b[:30], False, False, np.float32)  # a transposed view


@pytest.mark.parametrize("a_dtype, b_dtype, want", [
    (np.float32, np.float64, np.float64),
    (np.int64, np.float32, np.float32),
    (np.int32, np.int8, np.float32),
    (np.bool_, np.float64, np.float64),
])
def test_mixed_and_integer_dtypes_are_converted(a_dtype, b_dtype, want):
    rng = np.random.default_rng(3)
    a = rng.integers(-3, 4, size=(7, 9)).astype(a_dtype)
    b = rng.integers(-3, 4, size=(9, 5)).astype(b_dtype)
    got = ops.matmul(a, b)
    exact = a.astype(np.float64) @ b.astype(np.float64)  # small integers: exact in float32
    assert_identical("matmul", got, exact.astype(want), want)


def test_lists_are_accepted():
    # Python floats become float64 arrays (as in NumPy), so the result is float64.
    got = ops.matmul([[1.0, 2.0]], [[3.0], [4.0]])
    assert_identical("matmul", got, np.array([[11.0]]), np.float64)


# ----- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, error, message", [
    (np.zeros((3, 4), np.float32), np.zeros((5, 6), np.float32), ValueError,
     r"ops.matmul: inner dimensions differ: a is \(3, 4\), b is \(5, 6\)"),
    (np.zeros((3, 4), np.float64), np.zeros((5, 6), np.float64), ValueError,
     r"ops.matmul: inner dimensions differ: a is \(3, 4\), b is \(5, 6\)"),
    (np.zeros(4, np.float32), np.zeros((4, 2), np.float32), ValueError,
     r"ops.matmul: a must be 2-D, got shape \(4,\)"),
    (np.zeros((2, 4), np.float32), np.zeros((1, 4, 2), np.float32), ValueError,
     r"ops.matmul: b must be 2-D, got shape \(1, 4, 2\)"),
    (np.zeros((2, 2), np.complex64), np.zeros((2, 2), np.float32), TypeError,
     r"ops.matmul: a must be float32 or float64 \(or integer\), got dtype complex64"),
    (np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float16), TypeError,
     r"ops.matmul: b must be float32 or float64 \(or integer\), got dtype float16"),
    (np.array([["x"]]), np.zeros((1, 1), np.float32), TypeError,
     r"ops.matmul: a must be float32 or float64 \(or integer\), got dtype <U1"),
])
def test_matmul_errors(a, b, error, message):
    with pytest.raises(error, match=message):
        ops.matmul(a, b)


def test_transposed_inner_dimension_error():
    with pytest.raises(ValueError, match=r"inner dimensions differ: a is \(3, 4\), b is \(3, 4\)"):
        ops.matmul(np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32),
                   transpose_a=False, transpose_b=False)
    assert ops.matmul(np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32),
                      transpose_a=True).shape == (4, 4)


@pytest.mark.parametrize("out, message", [
    (np.zeros((3, 5), np.float32), r"out must be a float32 array of shape \(3, 6\)"),
    (np.zeros((3, 6), np.float64), r"out must be a float32 array of shape \(3, 6\)"),
    ([[0.0] * 6] * 3, r"out must be a float32 array of shape \(3, 6\)"),
])
def test_matmul_out_errors(out, message):
    with pytest.raises(ValueError, match=r"ops.matmul: " + message):
        ops.matmul(np.zeros((3, 4), np.float32), np.zeros((4, 6), np.float32), out=out)


def test_matmul_out_is_filled():
    rng = np.random.default_rng(4)
    a, b = operands(rng, 9, 8, 7, False, False, np.float32)
    out = np.full((9, 8), np.nan, np.float32)
    assert ops.matmul(a, b, out=out) is out
    assert_within("out", out, a.astype(np.float64) @ b, reduction_bound(7, np.float32, a, b),
                  np.float32)


@pytest.mark.parametrize("c, error, message", [
    (np.zeros((3, 6), np.int32), TypeError, r"ops.gemm: c must be a float32 or float64"),
    (np.zeros((6, 3), np.float32).T, ValueError, r"ops.gemm: c must be C-contiguous"),
    (np.zeros((3, 5), np.float32), ValueError, r"ops.gemm: c must have shape \(3, 6\), got"),
])
def test_gemm_errors(c, error, message):
    with pytest.raises(error, match=message):
        ops.gemm(np.zeros((3, 4), np.float32), np.zeros((4, 6), np.float32), c)


def test_bindings_reject_what_ops_would_convert():
    """The compiled functions never convert: a direct call with a wrong array is an error,
    not a crash (ops converts before calling them)."""
    core = ops._core
    c = np.zeros((2, 2), np.float32)
    with pytest.raises(TypeError, match=r"ops.matmul: a must have dtype float32, got float64"):
        core.gemm_f32(c, np.zeros((2, 2)), np.zeros((2, 2), np.float32), False, False)
    with pytest.raises(ValueError, match=r"ops.matmul: b must be C-contiguous"):
        core.gemm_f32(c, c, np.zeros((2, 4), np.float32)[:, ::2], False, False)
    with pytest.raises(ValueError, match=r"ops.matmul: out is read-only"):
        frozen = np.zeros((2, 2), np.float32)
        frozen.flags.writeable = False
        core.gemm_f32(frozen, c, c, False, False)
    with pytest.raises(TypeError, match=r"ops.matmul: a must be a numpy array, got list"):
        core.matmul_f64([[1.0]], np.zeros((1, 1)), False, False)


# ----- threads and paths ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, True)])
@pytest.mark.parametrize("m, n, k", [(150, 211, 300), (20, 700, 513), (700, 9, 64)])
def test_one_and_two_threads_agree_bit_for_bit(isa, threads, dtype, transpose_a, transpose_b,
                                               m, n, k):
    rng = np.random.default_rng(7)
    a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    results = []
    for count in (1, 2):
        chalknet.set_num_threads(count)
        results.append((ops.matmul(a, b, transpose_a, transpose_b),
                        ops.gemm(a, b, c0.copy(), 0.5, 1.5, transpose_a, transpose_b)))
    assert_identical("matmul", results[1][0], results[0][0], dtype)
    assert_identical("gemm", results[1][1], results[0][1], dtype)


# ----- pre-packed right-hand side (PackedB, used by the recurrent kernels) ---------------------

def gemm_both_ways(a, b, c, alpha, beta, transpose_a, transpose_b):
    """(plain gemm, gemm through a PackedB) of the same update, each on its own copy of c."""
    suffix = "f32" if a.dtype == np.float32 else "f64"
    plain, prepacked = c.copy(), c.copy()
    getattr(ops._core, f"gemm_{suffix}")(plain, a, b, transpose_a, transpose_b, alpha, beta)
    getattr(ops._core, f"_gemm_prepacked_{suffix}")(prepacked, a, b, transpose_a, transpose_b,
                                                    alpha, beta)
    return plain, prepacked


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transpose_a, transpose_b",
                         [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("m, n, k", [*EDGE_SHAPES, (64, 2048, 512), (33, 515, 1500)])
def test_prepacked_b_equals_plain_gemm_bit_for_bit(isa, dtype, transpose_a, transpose_b, m, n, k):
    rng = np.random.default_rng(m * 131 + n * 7 + k)
    a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    for alpha, beta in [(1.0, 0.0), (-0.5, 1.5)]:
        plain, prepacked = gemm_both_ways(a, b, c, alpha, beta, transpose_a, transpose_b)
        assert_identical("c", prepacked, plain, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_prepacked_b_one_and_two_threads_agree_bit_for_bit(isa, threads, dtype):
    rng = np.random.default_rng(11)
    a, b = operands(rng, 150, 700, 513, False, False, dtype)
    c = rng.standard_normal((150, 700)).astype(dtype)
    results = []
    for count in (1, 2):
        chalknet.set_num_threads(count)
        results.append(gemm_both_ways(a, b, c, 0.5, 1.5, False, False)[1])
    assert_identical("c", results[1], results[0], dtype)


def test_python_threads_may_call_at_once():
    """Each thread has its own packing buffers: concurrent calls give the right answers."""
    rng = np.random.default_rng(8)
    cases = [operands(rng, m, n, k, False, True, np.float32)
             for m, n, k in [(90, 70, 300), (33, 129, 17), (200, 40, 400), (5, 300, 250)] * 3]

    def run(case):
        a, b = case
        return ops.matmul(a, b, transpose_b=True)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, cases))
    for (a, b), got in zip(cases, results, strict=True):
        assert_within("matmul", got, a.astype(np.float64) @ b.T.astype(np.float64),
                      reduction_bound(a.shape[1], np.float32, a, b), np.float32)


def test_build_info_names_the_path():
    info = chalknet.build_info()
    assert info["simd"] in ISAS
    assert info["simd_detected"] in ("generic", "avx2", "avx512")
    assert ISAS[0] == "generic"


def test_set_isa_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"_set_isa: expected one of"):
        ops._set_isa("sse9")


def test_a_smaller_team_than_asked_for_still_computes_everything(under_thread_limits):
    """OMP_THREAD_LIMIT=1 gives gemm one thread where it asked for two: every rectangle of C
    must still be computed, and the result is the one with two threads bit for bit."""
    one, two = under_thread_limits(
        "import sys, numpy as np, chalknet; from chalknet import ops;"
        "rng = np.random.default_rng(3);"
        "a = rng.standard_normal((300, 400)).astype(np.float32);"
        "b = rng.standard_normal((400, 500)).astype(np.float32);"
        "chalknet.set_num_threads(2); np.savez(sys.argv[1], ops.matmul(a, b))"
    )
    assert_identical("matmul", one[0], two[0], np.float32)


def _simd_in_subprocess(value):
    code = "import chalknet; print(chalknet.build_info()['simd'])"
    env = {"CHALKNET_ISA": value, "PATH": "", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip(), done.stderr


def test_environment_variable_lowers_the_path():
    simd, stderr = _simd_in_subprocess("generic")
    assert simd == "generic" and "RuntimeWarning" not in stderr


def test_environment_variable_unknown_value_warns_and_keeps_best():
    simd, stderr = _simd_in_subprocess("neon9")
    assert simd == ISAS[-1]
    assert "RuntimeWarning: CHALKNET_ISA='neon9' is not one of" in stderr


def test_an_equal_but_distinct_dtype_object_is_accepted():
    # copy.deepcopy gives a dtype equal to float32 that is not NumPy's canonical object; the
    # bindings compare dtypes by value, so ops and _core accept it (it once raised
    # "must have dtype float32, got float32").
    import copy

    dtype = copy.deepcopy(np.dtype(np.float32))
    a = np.ones((3, 4), dtype=dtype)
    b = np.ones((4, 2), dtype=dtype)
    np.testing.assert_array_equal(ops.matmul(a, b), np.full((3, 2), 4, np.float32))
    x = np.ones((1, 4, 4, 1), dtype=dtype)
    k = np.ones((2, 2, 1, 1), dtype=dtype)
    np.testing.assert_array_equal(ops.conv2d(x, k), np.full((1, 3, 3, 1), 4, np.float32))
