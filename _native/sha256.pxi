# SHA-256 with the x86 SHA extensions (SHA-NI), for the Noise handshake's MixHash and HMAC.
#
# A listener's XX handshake hashes ~63 SHA-256 blocks (MixHash, 4 HKDFs of 3 HMACs each).
# libsodium's SHA-256 is portable C; where the CPU has the SHA extensions (checked with cpuid at
# run time, the functions compiled for them with a target attribute, so no build flag changes)
# the same digest costs a fraction. Elsewhere (other CPUs, other compilers) noise_xx.pxi keeps
# libsodium's crypto_hash_sha256. Same signature as libsodium's, so either fills one pointer.

from libp2p.errors import StateError as _ShaStateError


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    #include <cpuid.h>
    #include <immintrin.h>
    #define LIBP2P_SHA_NI_BUILT 1

    static const uint32_t libp2p_sha256_k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

    static int libp2p_sha_ni_available(void) {
        unsigned int a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
        if (!(c & (1u << 9)) || !(c & (1u << 19))) return 0;  /* SSSE3, SSE4.1 */
        if (__get_cpuid_max(0, 0) < 7) return 0;
        __cpuid_count(7, 0, a, b, c, d);
        return (int)((b >> 29) & 1u);  /* SHA */
    }

    /* The compression function over n 64-byte blocks: four rounds per sha256rnds2 pair, the
       message schedule four words at a time (sha256msg1/msg2), state kept as ABEF/CDGH. */
    __attribute__((target("sha,sse4.1,ssse3")))
    static void libp2p_sha256_ni_blocks(uint32_t state[8], const unsigned char *data, size_t n) {
        const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
        __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);
        __m128i state1 = _mm_loadu_si128((const __m128i *)&state[4]);
        __m128i state0, abef, cdgh, msg, w[4];
        int i;
        tmp = _mm_shuffle_epi32(tmp, 0xB1);
        state1 = _mm_shuffle_epi32(state1, 0x1B);
        state0 = _mm_alignr_epi8(tmp, state1, 8);
        state1 = _mm_blend_epi16(state1, tmp, 0xF0);
        while (n--) {
            abef = state0;
            cdgh = state1;
            /* fully unrolled, so w[] stays in registers */
            #pragma GCC unroll 16
            for (i = 0; i < 16; i++) {
                if (i < 4)
                    w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), mask);
                msg = _mm_add_epi32(w[i & 3], _mm_loadu_si128((const __m128i *)&libp2p_sha256_k[4 * i]));
                state1 = _mm_sha256rnds2_epu32(state1, state0, msg);
                if (i >= 3 && i < 15) {  /* words 4(i+1).. from msg1's partial sum */
                    tmp = _mm_alignr_epi8(w[i & 3], w[(i - 1) & 3], 4);
                    w[(i + 1) & 3] = _mm_add_epi32(w[(i + 1) & 3], tmp);
                    w[(i + 1) & 3] = _mm_sha256msg2_epu32(w[(i + 1) & 3], w[i & 3]);
                }
                msg = _mm_shuffle_epi32(msg, 0x0E);
                state0 = _mm_sha256rnds2_epu32(state0, state1, msg);
                if (i >= 1 && i < 13)
                    w[(i - 1) & 3] = _mm_sha256msg1_epu32(w[(i - 1) & 3], w[i & 3]);
            }
            state0 = _mm_add_epi32(state0, abef);
            state1 = _mm_add_epi32(state1, cdgh);
            data += 64;
        }
        tmp = _mm_shuffle_epi32(state0, 0x1B);
        state1 = _mm_shuffle_epi32(state1, 0xB1);
        state0 = _mm_blend_epi16(tmp, state1, 0xF0);
        state1 = _mm_alignr_epi8(state1, tmp, 8);
        _mm_storeu_si128((__m128i *)&state[0], state0);
        _mm_storeu_si128((__m128i *)&state[4], state1);
    }

    static int libp2p_sha256_ni(unsigned char *out, const unsigned char *m, unsigned long long len) {
        uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
        unsigned char tail[128];
        size_t full = (size_t)(len / 64), rest = (size_t)(len % 64), tail_blocks;
        unsigned long long bits = len * 8;
        int i;
        libp2p_sha256_ni_blocks(state, m, full);
        memset(tail, 0, sizeof tail);
        if (rest) memcpy(tail, m + 64 * full, rest);
        tail[rest] = 0x80;
        tail_blocks = rest + 1 + 8 <= 64 ? 1 : 2;
        for (i = 0; i < 8; i++) tail[64 * tail_blocks - 1 - i] = (unsigned char)(bits >> (8 * i));
        libp2p_sha256_ni_blocks(state, tail, tail_blocks);
        for (i = 0; i < 8; i++) {
            out[4 * i] = (unsigned char)(state[i] >> 24);
            out[4 * i + 1] = (unsigned char)(state[i] >> 16);
            out[4 * i + 2] = (unsigned char)(state[i] >> 8);
            out[4 * i + 3] = (unsigned char)state[i];
        }
        return 0;
    }
    #else
    #define LIBP2P_SHA_NI_BUILT 0
    static int libp2p_sha_ni_available(void) { return 0; }
    static int libp2p_sha256_ni(unsigned char *out, const unsigned char *m, unsigned long long len) {
        (void)out; (void)m; (void)len;
        return -1;
    }
    #endif
    """
    int libp2p_sha_ni_available() nogil
    int libp2p_sha256_ni(unsigned char* out, const unsigned char* m, unsigned long long mlen) noexcept nogil


# cpuid is slow (a VM exit under a hypervisor): asked once
cdef int _sha_ni_cpu = -1


cdef bint _sha_ni_usable() noexcept:
    global _sha_ni_cpu
    if _sha_ni_cpu < 0:
        _sha_ni_cpu = libp2p_sha_ni_available()
    return _sha_ni_cpu != 0


def _sha256_ni_in_use():
    """Whether the Noise handshake hashes with the SHA extensions on this CPU (for tests)."""
    return _sha_ni_usable()


def _sha256_ni_digest(data):
    """SHA-256 of ``data`` through the SHA-extension code (for tests; only where in use)."""
    cdef Py_buffer view
    cdef unsigned char out[32]
    if not _sha_ni_usable():
        raise _ShaStateError("this CPU lacks the SHA extensions")
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        libp2p_sha256_ni(out, <const unsigned char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return PyBytes_FromStringAndSize(<char*>out, 32)
