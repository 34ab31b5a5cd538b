/*
 * XOR-masking of WebSocket payloads (RFC 6455 section 5.3) in C.
 *
 * Every client frame is masked, so the server unmasks every byte it reads.
 * Python's fastest pure fallback (perfectws/frames.py) costs about 130 us per
 * 64 KiB; this loop costs about 2 us, which is what lets large messages move
 * at the speed of the socket. It is the only C in perfectws, and optional: if
 * it cannot be built, frames.py uses the pure-Python version.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *
apply_mask(PyObject *self, PyObject *args)
{
    Py_buffer data, mask;
    PyObject *result;
    const uint8_t *src;
    uint8_t *dst;
    Py_ssize_t n, i = 0;
    uint32_t m32;
    uint64_t m64;

    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &data, &mask))
        return NULL;
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto error;
    }
    n = data.len;
    result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL)
        goto error;
    src = (const uint8_t *)data.buf;
    dst = (uint8_t *)PyBytes_AS_STRING(result);
    memcpy(&m32, mask.buf, 4);
    m64 = ((uint64_t)m32 << 32) | m32;
    /* memcpy keeps the 8-byte loads and stores legal at any alignment; the
       compiler turns each into a single move. */
    for (; i + 8 <= n; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, src + i, 8);
        chunk ^= m64;
        memcpy(dst + i, &chunk, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ ((const uint8_t *)mask.buf)[i & 3];
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;

error:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return NULL;
}

/* unmask_frame(buffer, mask_at, end) -> bytes
 *
 * The payload of a client frame straight from the read buffer: the mask is at
 * buffer[mask_at:mask_at+4] and the payload runs from there to end. Saves the
 * two slices (and their copies) the frame parser would otherwise make.
 */
static PyObject *
unmask_frame(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t mask_at, end, n, i = 0;
    PyObject *result;
    const uint8_t *src, *mask;
    uint8_t *dst;
    uint32_t m32;
    uint64_t m64;

    if (!PyArg_ParseTuple(args, "y*nn:unmask_frame", &buf, &mask_at, &end))
        return NULL;
    if (mask_at < 0 || end > buf.len || mask_at + 4 > end) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "frame bounds outside the buffer");
        return NULL;
    }
    mask = (const uint8_t *)buf.buf + mask_at;
    src = mask + 4;
    n = end - mask_at - 4;
    result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    dst = (uint8_t *)PyBytes_AS_STRING(result);
    memcpy(&m32, mask, 4);
    m64 = ((uint64_t)m32 << 32) | m32;
    for (; i + 8 <= n; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, src + i, 8);
        chunk ^= m64;
        memcpy(dst + i, &chunk, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ mask[i & 3];
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"unmask_frame", unmask_frame, METH_VARARGS,
     "unmask_frame(buffer, mask_at, end) -> bytes: a client frame's payload, unmasked."},
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(data, mask) -> bytes: XOR data with the 4-byte mask, repeated."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "perfectws._speedups",
    "C helpers for perfectws's frame codec.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
