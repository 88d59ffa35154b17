#include "core/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int rvt_error_set(struct rvt_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int rvt_error_prefix(struct rvt_error *err, const char *fmt, ...)
{
    char pre[512], old[sizeof(err->msg)];
    va_list ap;

    if (!err)
        return RVT_EINVAL;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", pre, old);
    return err->code;
}

void rvt_error_clear(struct rvt_error *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *rvt_status_name(int code)
{
    switch (code) {
    case RVT_OK: return "ok";
    case RVT_EIO: return "i/o error";
    case RVT_EINVAL: return "invalid argument";
    case RVT_ENOMEM: return "out of memory";
    case RVT_EFORMAT: return "malformed input";
    case RVT_EUNSUPPORTED: return "unsupported input";
    case RVT_EMISMATCH: return "inputs disagree";
    case RVT_EINTR: return "interrupted";
    case RVT_ELIMIT: return "size limit exceeded";
    }
    return "unknown error";
}
