#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libavutil/mem.h>
#include <libavutil/sha.h>

#include "core/hash.h"

static void to_hex(const uint8_t d[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

void rvt_sha256_hex(const void *data, size_t len, char hex[65])
{
    struct AVSHA *sha = av_sha_alloc();
    uint8_t d[32];
    assert(sha); /* tiny allocation; callers have no way to recover either */
    av_sha_init(sha, 256);
    av_sha_update(sha, data, len);
    av_sha_final(sha, d);
    av_free(sha);
    to_hex(d, hex);
}

int rvt_sha256_file(const char *path, char hex[65], struct rvt_error *err)
{
    FILE *f = fopen(path, "rb");
    struct AVSHA *sha = NULL;
    uint8_t *buf = NULL, d[32];
    size_t n;
    int ret = 0;

    if (!f)
        return rvt_error_set(err, RVT_EIO, "cannot open '%s': %s", path, strerror(errno));
    sha = av_sha_alloc();
    buf = malloc(1 << 16);
    if (!sha || !buf) {
        ret = rvt_error_set(err, RVT_ENOMEM, "out of memory");
        goto done;
    }
    av_sha_init(sha, 256);
    while ((n = fread(buf, 1, 1 << 16, f)) > 0)
        av_sha_update(sha, buf, n);
    if (ferror(f)) {
        ret = rvt_error_set(err, RVT_EIO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    av_sha_final(sha, d);
    to_hex(d, hex);
done:
    av_free(sha);
    free(buf);
    fclose(f);
    return ret;
}

uint64_t rvt_fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

int rvt_shard_of(const char *id, int n)
{
    assert(n > 0);
    return (int)(rvt_fnv1a64(id) % (uint64_t)n);
}
