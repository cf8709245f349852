/* Optional compiled helpers for panokit (built when a C compiler is available).
 *
 * unfilter_rgb(data, width, height, bpp) undoes the PNG row filters (None, Sub, Up,
 * Average, Paeth) of an inflated, non-interlaced 8-bit image with bpp bytes per pixel
 * (1 gray, 3 RGB, 4 RGBA) and returns a buffer whose first height * width * 3 bytes are
 * the RGB pixels: alpha is dropped and gray is repeated into the three channels. RGB data
 * in a bytearray is unfiltered in place (the bytearray itself is returned).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define UNLIKELY(x) (x)
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WIDE_READS 1
#else
#define WIDE_READS 0
#endif

#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* Paeth predictor, branch-free; ties resolve to a, then b, as the PNG specification says. */
ALWAYS_INLINE int paeth(int a, int b, int c) {
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    int m = -(pb < pa); /* all ones where b beats a */
    a = (a & ~m) | (b & m);
    pa = (pa & ~m) | (pb & m);
    m = -(pc < pa);
    return (a & ~m) | (c & m);
}

/* Unfilter one row of `width` pixels of BPP bytes from src into dst; prev is the previous
 * unfiltered row (NULL for the first row). BPP is a constant at each call site, so the
 * per-pixel loops keep the left neighbour in registers. Returns 0, or -1 for an unknown
 * filter type. */
ALWAYS_INLINE int unfilter_row_bpp(unsigned char ftype, const unsigned char *src,
                                   unsigned char *dst, const unsigned char *prev,
                                   Py_ssize_t width, const int BPP) {
    Py_ssize_t x, stride = width * BPP;
    int k, a[4] = {0, 0, 0, 0}, c[4] = {0, 0, 0, 0};
    if (prev == NULL) {
        if (ftype == 2) ftype = 0;      /* Up from a zero row is None */
        else if (ftype == 4) ftype = 1; /* Paeth with b = c = 0 is Sub */
    }
    switch (ftype) {
    case 0:
        memmove(dst, src, (size_t)stride); /* may overlap when unfiltering in place */
        return 0;
    case 1:
        for (x = 0; x < width; x++)
            for (k = 0; k < BPP; k++) {
                a[k] = (src[x * BPP + k] + a[k]) & 0xff;
                dst[x * BPP + k] = (unsigned char)a[k];
            }
        return 0;
    case 2:
        for (x = 0; x < stride; x++) dst[x] = (unsigned char)(src[x] + prev[x]);
        return 0;
    case 3:
        for (x = 0; x < width; x++)
            for (k = 0; k < BPP; k++) {
                int b = prev == NULL ? 0 : prev[x * BPP + k];
                a[k] = (src[x * BPP + k] + ((a[k] + b) >> 1)) & 0xff;
                dst[x * BPP + k] = (unsigned char)a[k];
            }
        return 0;
    case 4:
        for (x = 0; x < width; x++) {
            const unsigned char *up = prev + x * BPP;
            /* Label images are mostly flat: where the pixel above equals the one above-left
             * (b == c) the predictor is the left pixel, as for Sub. */
            int flat = x > 0 && memcmp(up, up - BPP, BPP) == 0;
            if (flat) {
                for (k = 0; k < BPP; k++) {
                    a[k] = (src[x * BPP + k] + a[k]) & 0xff;
                    dst[x * BPP + k] = (unsigned char)a[k];
                }
                for (k = 0; k < BPP; k++) c[k] = up[k];
            } else {
                for (k = 0; k < BPP; k++) {
                    int b = up[k];
                    a[k] = (src[x * BPP + k] + paeth(a[k], b, c[k])) & 0xff;
                    c[k] = b;
                    dst[x * BPP + k] = (unsigned char)a[k];
                }
            }
        }
        return 0;
    default:
        return -1;
    }
}

static int unfilter_row(unsigned char ftype, const unsigned char *src, unsigned char *dst,
                        const unsigned char *prev, Py_ssize_t width, Py_ssize_t bpp) {
    if (bpp == 3) return unfilter_row_bpp(ftype, src, dst, prev, width, 3);
    if (bpp == 4) return unfilter_row_bpp(ftype, src, dst, prev, width, 4);
    return unfilter_row_bpp(ftype, src, dst, prev, width, 1);
}

static PyObject *unfilter_rgb(PyObject *self, PyObject *args) {
    PyObject *obj;
    Py_buffer view;
    Py_ssize_t width, height, bpp;
    (void)self;
    if (!PyArg_ParseTuple(args, "Onnn", &obj, &width, &height, &bpp)) return NULL;
    if (width <= 0 || height <= 0 || (bpp != 1 && bpp != 3 && bpp != 4) ||
        width > PY_SSIZE_T_MAX / 8 / height) {
        PyErr_SetString(PyExc_ValueError, "bad image size or bytes per pixel");
        return NULL;
    }
    /* RGB in a writable buffer (libdeflate's bytearray) is unfiltered in place: row y
     * moves from offset y * (stride + 1) + 1 to y * stride, always downwards. */
    int in_place = bpp == 3 && PyByteArray_Check(obj);
    if (PyObject_GetBuffer(obj, &view, in_place ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t stride = width * bpp;
    if (view.len != height * (stride + 1)) {
        PyErr_Format(PyExc_ValueError, "image data is %zd bytes, expected %zd", view.len,
                     height * (stride + 1));
        PyBuffer_Release(&view);
        return NULL;
    }
    PyObject *out = NULL;
    unsigned char *dst, *rows = NULL;
    if (in_place) {
        dst = (unsigned char *)view.buf;
    } else {
        out = PyBytes_FromStringAndSize(NULL, height * width * 3);
        if (out == NULL) {
            PyBuffer_Release(&view);
            return NULL;
        }
        dst = (unsigned char *)PyBytes_AS_STRING(out);
    }
    if (bpp != 3) {
        rows = (unsigned char *)malloc((size_t)(2 * stride));
        if (rows == NULL) {
            PyBuffer_Release(&view);
            Py_XDECREF(out);
            return PyErr_NoMemory();
        }
    }
    unsigned char *src = (unsigned char *)view.buf;
    Py_ssize_t bad = -1;
    int ftype = 0;
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *prev = NULL;
    for (Py_ssize_t y = 0; y < height; y++) {
        const unsigned char *line = src + y * (stride + 1);
        unsigned char *cur = bpp == 3 ? dst + y * stride : rows + (y & 1) * stride;
        if (unfilter_row(line[0], line + 1, cur, prev, width, bpp) != 0) {
            bad = y;
            ftype = line[0];
            break;
        }
        if (bpp == 4) {
            unsigned char *o = dst + y * width * 3;
            for (Py_ssize_t x = 0; x < width; x++) {
                o[3 * x] = cur[4 * x];
                o[3 * x + 1] = cur[4 * x + 1];
                o[3 * x + 2] = cur[4 * x + 2];
            }
        } else if (bpp == 1) {
            unsigned char *o = dst + y * width * 3;
            for (Py_ssize_t x = 0; x < width; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = cur[x];
        }
        prev = cur;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    free(rows);
    if (bad >= 0) {
        Py_XDECREF(out);
        PyErr_Format(PyExc_ValueError, "row %zd has unknown filter type %d", bad, ftype);
        return NULL;
    }
    if (out == NULL) {
        Py_INCREF(obj);
        return obj;
    }
    return out;
}


/* rgb24_pair_runs(gt, pred, n) -> (starts, gt_ids, pred_ids): the runs of equal
 * (gt id, pred id) pairs along two arrays of n RGB24 pixels (3 bytes each, id = R + 256 G +
 * 65536 B), as three bytes objects of int64: each run's first pixel and its two ids. */
static int grow(int64_t **a, int64_t **b, int64_t **c, Py_ssize_t *cap) {
    Py_ssize_t next = *cap * 2;
    int64_t *na = realloc(*a, next * sizeof(int64_t));
    if (na == NULL) return -1;
    *a = na;
    int64_t *nb = realloc(*b, next * sizeof(int64_t));
    if (nb == NULL) return -1;
    *b = nb;
    int64_t *nc = realloc(*c, next * sizeof(int64_t));
    if (nc == NULL) return -1;
    *c = nc;
    *cap = next;
    return 0;
}

static PyObject *rgb24_pair_runs(PyObject *self, PyObject *args) {
    Py_buffer gview, pview;
    Py_ssize_t n;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*n", &gview, &pview, &n)) return NULL;
    if (n < 0 || gview.len < 3 * n || pview.len < 3 * n) {
        PyBuffer_Release(&gview);
        PyBuffer_Release(&pview);
        PyErr_SetString(PyExc_ValueError, "both buffers must hold n RGB pixels");
        return NULL;
    }
    const unsigned char *g = gview.buf, *p = pview.buf;
    Py_ssize_t cap = 4096, k = 0;
    int64_t *starts = malloc(cap * sizeof(int64_t));
    int64_t *gids = malloc(cap * sizeof(int64_t));
    int64_t *pids = malloc(cap * sizeof(int64_t));
    int failed = starts == NULL || gids == NULL || pids == NULL;
    Py_BEGIN_ALLOW_THREADS
    int64_t last_g = -1, last_p = -1;
    /* Pixels before the last are read as 4 little-endian bytes and masked to 3 (the 4th byte
     * is the next pixel's, inside the buffer); the last pixel is read byte by byte. */
    Py_ssize_t wide = (WIDE_READS && n > 0) ? n - 1 : 0;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        int64_t vg, vp;
        if (i < wide) {
            uint32_t wg, wp;
            memcpy(&wg, g + 3 * i, 4);
            memcpy(&wp, p + 3 * i, 4);
            vg = (int64_t)(wg & 0xFFFFFFu);
            vp = (int64_t)(wp & 0xFFFFFFu);
        } else {
            const unsigned char *a = g + 3 * i, *b = p + 3 * i;
            vg = (int64_t)a[0] | ((int64_t)a[1] << 8) | ((int64_t)a[2] << 16);
            vp = (int64_t)b[0] | ((int64_t)b[1] << 8) | ((int64_t)b[2] << 16);
        }
        if (UNLIKELY(vg != last_g || vp != last_p)) {
            if (k == cap && grow(&starts, &gids, &pids, &cap) != 0) {
                failed = 1;
                break;
            }
            starts[k] = i;
            gids[k] = vg;
            pids[k] = vp;
            k++;
            last_g = vg;
            last_p = vp;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&gview);
    PyBuffer_Release(&pview);
    PyObject *result = NULL;
    if (failed) {
        PyErr_NoMemory();
    } else {
        result = Py_BuildValue("(y#y#y#)", (const char *)starts, k * (Py_ssize_t)sizeof(int64_t),
                               (const char *)gids, k * (Py_ssize_t)sizeof(int64_t),
                               (const char *)pids, k * (Py_ssize_t)sizeof(int64_t));
    }
    free(starts);
    free(gids);
    free(pids);
    return result;
}

static PyMethodDef methods[] = {
    {"unfilter_rgb", unfilter_rgb, METH_VARARGS,
     "unfilter_rgb(data, width, height, bpp) -> buffer: undo the PNG row filters of an "
     "inflated 8-bit non-interlaced image; its first height * width * 3 bytes are the RGB "
     "pixels (a bytearray of RGB rows is unfiltered in place and returned)."},
    {"rgb24_pair_runs", rgb24_pair_runs, METH_VARARGS,
     "rgb24_pair_runs(gt, pred, n) -> (starts, gt_ids, pred_ids): runs of equal (gt, pred) "
     "RGB24 id pairs over n pixels, as bytes of int64."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "panokit._speedups", "Optional compiled helpers for panokit.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
