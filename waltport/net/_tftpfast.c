/*
 * The lock-step TFTP loop (one block per ACK) outside the interpreter.
 *
 * Optional: waltport.net.tftp_session uses it when it was compiled and
 * falls back to its own Python loop otherwise (same packets, same results).
 * Why C: a lock-step stream waits one round trip per block, and the
 * interpreter's share of that round trip (~2.5 us, docs/benchmarks.md) kept
 * the bench server at 0.8x of tftpd-hpa.  Only the per-ACK work lives here
 * (receive, match the 16-bit block number, send the block read ahead, read
 * the next one); the session's options, deadlines, retries, windows and the
 * transfer log stay in Python.  The interpreter lock is released while the
 * loop runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OP_DATA 3
#define OP_ACK 4
#define OP_ERROR 5
#define ACK_BUF 516

/* Why lockstep() returned (mirrored in tftp_session.py). */
enum { ST_IDLE = 0, ST_MORE = 1, ST_DONE = 2, ST_CLIENT_ERROR = 3, ST_SOCKET = 4,
       ST_SHRANK = 5 };

struct lockstep {
    int sock, fd;
    unsigned char *frames;   /* two frames of 4 + blksize bytes */
    long long blksize, size, last;
    long long acked, top;    /* blocks counted without the 16-bit wrap */
    long long ahead;         /* block read into frames[spare], 0: none */
    int spare;
    long long progressed;    /* ACKs that moved the transfer */
    long long info;          /* errno, client's error code or bytes left in the file */
    int msg_len;
    unsigned char ack[ACK_BUF];
};

static unsigned char *frame(struct lockstep *s, int which)
{
    return s->frames + which * (s->blksize + 4);
}

/* Read block ``num`` into frame ``which`` with its header; its length, or -1 if short. */
static ssize_t load(struct lockstep *s, int which, long long num)
{
    unsigned char *f = frame(s, which);
    long long offset = (num - 1) * s->blksize;
    long long want = s->size - offset;
    ssize_t got = 0;
    if (want > s->blksize)
        want = s->blksize;
    while (want > 0 && got < want) {
        ssize_t n = pread(s->fd, f + 4 + got, (size_t)(want - got), (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
    }
    if (want > 0 && got < want) {
        s->info = offset + got;
        return -1;
    }
    f[0] = 0;
    f[1] = OP_DATA;
    f[2] = (unsigned char)((num >> 8) & 0xFF);
    f[3] = (unsigned char)(num & 0xFF);
    return 4 + got;
}

/* Send the block after ``acked`` (read ahead if it is there), then read the next one. */
static int send_next(struct lockstep *s)
{
    long long num = s->acked + 1;
    ssize_t len;
    if (s->ahead != num) {
        len = load(s, s->spare, num);
        if (len < 0)
            return ST_SHRANK;
    } else {
        long long rest = s->size - (num - 1) * s->blksize;
        len = 4 + (rest < s->blksize ? rest : s->blksize);
    }
    if (send(s->sock, frame(s, s->spare), (size_t)len, 0) < 0) {
        s->info = errno;
        return ST_SOCKET;
    }
    s->top = num;
    s->spare = 1 - s->spare;
    s->ahead = 0;
    if (num < s->last) {  /* off the round trip: the client is busy with this block */
        if (load(s, s->spare, num + 1) < 0)
            return ST_SHRANK;
        s->ahead = num + 1;
    }
    return ST_MORE;
}

/* Serve up to ``packets`` packets, each waited for at most the socket's SO_RCVTIMEO. */
static int run(struct lockstep *s, long long packets)
{
    for (long long i = 0; i < packets; i++) {
        ssize_t n = recv(s->sock, s->ack, ACK_BUF, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return ST_IDLE;
            s->info = errno;
            return ST_SOCKET;
        }
        if (n < 4)
            continue;
        int op = (s->ack[0] << 8) | s->ack[1];
        long long num = (s->ack[2] << 8) | s->ack[3];
        if (op == OP_ACK) {
            /* The 16-bit number, mapped to the first block at or after the acked one. */
            long long k = s->acked + (long long)((uint64_t)(num - s->acked) & 0xFFFF);
            if (!(s->acked < k && k <= s->top))
                continue;  /* older and duplicate ACKs change nothing */
            s->acked = k;
            s->progressed++;
            if (k >= s->last)
                return ST_DONE;
            int st = send_next(s);
            if (st != ST_MORE)
                return st;
        } else if (op == OP_ERROR) {
            s->info = num;
            s->msg_len = (int)strnlen((const char *)s->ack + 4, (size_t)(n - 4));
            return ST_CLIENT_ERROR;
        }
    }
    return ST_MORE;
}

static int as_ll(PyObject *o, long long *out)
{
    *out = PyLong_AsLongLong(o);
    return !(*out == -1 && PyErr_Occurred());
}

static PyObject *lockstep(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    struct lockstep s;
    long long v[10];
    if (nargs != 11) {
        PyErr_Format(PyExc_TypeError, "lockstep: 11 arguments, got %zd", nargs);
        return NULL;
    }
    if (!PyByteArray_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "lockstep: frames must be a bytearray");
        return NULL;
    }
    for (int i = 0; i < 11; i++)
        if (i != 2 && !as_ll(args[i], &v[i < 2 ? i : i - 1]))
            return NULL;
    memset(&s, 0, offsetof(struct lockstep, ack));
    s.sock = (int)v[0];
    s.fd = (int)v[1];
    s.blksize = v[2];
    s.size = v[3];
    s.last = v[4];
    s.acked = v[5];
    s.top = v[6];
    s.ahead = v[7];
    s.spare = (int)v[8];
    long long packets = v[9];
    /* An exported buffer pins the bytearray: it cannot be resized or freed while
     * the loop writes into it without the interpreter lock. */
    Py_buffer view;
    if (PyObject_GetBuffer(args[2], &view, PyBUF_WRITABLE) < 0)
        return NULL;
    if (s.blksize < 8 || (s.spare != 0 && s.spare != 1) ||
        view.len < 2 * (s.blksize + 4)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "lockstep: frames shorter than two blocks");
        return NULL;
    }
    s.frames = (unsigned char *)view.buf;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = run(&s, packets);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_BuildValue("(iLLLiLLy#)", st, s.acked, s.top, s.ahead, s.spare, s.progressed,
                         s.info, (const char *)s.ack + 4, (Py_ssize_t)s.msg_len);
}

static PyMethodDef methods[] = {
    {"lockstep", (PyCFunction)(void (*)(void))lockstep, METH_FASTCALL,
     "lockstep(sock, fd, frames, blksize, size, last, acked, top, ahead, spare, packets) "
     "-> (status, acked, top, ahead, spare, progressed, info, message)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tftpfast", "The lock-step TFTP loop in C (optional).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tftpfast(void)
{
    return PyModule_Create(&module);
}
