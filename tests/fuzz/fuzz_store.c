/*
 * fuzz_store: the HDF5 store reader (lib/store/store_read.c): the root
 * attributes, clips/id, the dataset list, field info, per-clip reads and raw
 * chunks.
 *
 * Input: the bytes of an HDF5 file, opened through a memfd path (the reader
 * takes a path, as the tools do).  Checks: a store that opens has ids that
 * rvt_store_find finds again; every attribute and dataset read either works or
 * fails with a message; closing the reader leaves no HDF5 object open.
 * libhdf5 itself is not instrumented: coverage guides through our code only.
 */
#include "core/common.h"

#include <hdf5.h>
#include <string.h>

#include "fuzz.h"
#include "store/store.h"

#define MAX_CLIP_BYTES (1 << 20) /* per-clip reads the harness makes (the tools cap by shape) */

static const char *const attrs[] = {
    "schema_version", "kind", "tool_version", "config", "config_sha256", "index_sha256",
    "shard", "class_names", "split", "index_file", "input_files", "input_kinds",
    "input_sha256", "input_shards", "resize", "rgb_conversion", "missing",
};

static void read_field(struct rvt_store_reader *r, const char *name, void *buf,
                       struct rvt_store_chunk *chunk)
{
    struct rvt_store_field f;
    struct rvt_error err;
    size_t n = rvt_store_count(r), bytes;
    int ret, k;

    memset(&err, 0, sizeof(err));
    ret = rvt_store_field_info(r, name, &f, &err);
    if (ret < 0) {
        FUZZ_CHECK(err.code == ret && err.msg[0]);
        return;
    }
    FUZZ_CHECK(!strcmp(f.name, name) && f.rank >= 0 && f.rank <= RVT_STORE_MAX_RANK);
    bytes = rvt_dtype_size(f.dtype);
    for (k = 0; k < (f.dtype == RVT_DTYPE_STR ? 1 : f.rank); k++) {
        if (f.dims[k] > MAX_CLIP_BYTES || bytes * f.dims[k] > MAX_CLIP_BYTES)
            return;
        bytes *= f.dims[k];
    }
    FUZZ_CHECK(bytes == rvt_store_field_bytes(&f));
    if (n) {
        ret = rvt_store_read(r, name, 0, buf, &err);
        FUZZ_CHECK(ret == 0 || err.msg[0]);
        ret = rvt_store_read(r, name, n - 1, buf, &err);
        FUZZ_CHECK(ret == 0 || err.msg[0]);
        if (f.dtype == RVT_DTYPE_STR && ret == 0)
            FUZZ_CHECK(memchr(buf, 0, bytes));
    }
    ret = rvt_store_read(r, name, n, buf, &err);
    FUZZ_CHECK(ret == RVT_EINVAL);
    ret = rvt_store_field_deflate(r, name, &err);
    FUZZ_CHECK(ret >= -1 && ret <= 9);
    if (ret >= 0 && n) {
        ret = rvt_store_read_chunk(r, name, 0, chunk, &err);
        FUZZ_CHECK(ret == 0 || err.msg[0]);
        FUZZ_CHECK(ret < 0 || chunk->size <= chunk->cap);
        if (ret == 0 && bytes >= RVT_STORE_CHUNK_MIN) {
            void *scratch = malloc(rvt_store_encode_scratch(&f) + 1);
            FUZZ_CHECK(scratch);
            ret = rvt_store_decode(&f, rvt_store_field_deflate(r, name, &err), chunk, buf,
                                   scratch, &err);
            FUZZ_CHECK(ret == 0 || err.msg[0]);
            free(scratch);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rvt_store_reader *r = NULL;
    struct rvt_store_chunk chunk = {0};
    struct rvt_error err;
    const char *path = fuzz_path(0, data, size);
    void *buf;
    size_t i, n, k;
    int ret, d;

    memset(&err, 0, sizeof(err));
    ret = rvt_store_open(&r, path, &err);
    if (ret < 0) {
        if (getenv("FUZZ_VERBOSE"))
            fprintf(stderr, "%s\n", err.msg);
        FUZZ_CHECK(!r && err.code == ret && err.msg[0]);
        FUZZ_CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
        return 0;
    }
    FUZZ_CHECK(!strcmp(rvt_store_path(r), path));
    n = rvt_store_count(r);
    for (i = 0; i < n; i++) {
        const char *id = rvt_store_id(r, i);
        FUZZ_CHECK(id && id[0] && rvt_store_find(r, id) == (long)i);
    }
    FUZZ_CHECK(!rvt_store_id(r, n) && rvt_store_find(r, "") == -1);

    for (k = 0; k < RVT_ARRAY_SIZE(attrs); k++) {
        char *value = NULL, **list = NULL;
        size_t n_list = 0;
        ret = rvt_store_get_attr(r, attrs[k], &value, &err);
        FUZZ_CHECK(ret == 0 ? value != NULL : (value == NULL && err.msg[0]));
        free(value);
        ret = rvt_store_get_attr_list(r, attrs[k], &list, &n_list, &err);
        FUZZ_CHECK(ret == 0 || (list == NULL && err.msg[0]));
        FUZZ_CHECK(ret < 0 || rvt_store_has_attr(r, attrs[k]));
        rvt_store_list_free(&list, n_list);
    }

    buf = malloc(MAX_CLIP_BYTES);
    FUZZ_CHECK(buf);
    read_field(r, "clips/id", buf, &chunk);
    for (d = 0; d < rvt_store_n_datasets(r); d++) {
        const char *name = rvt_store_dataset_name(r, d);
        FUZZ_CHECK(name && rvt_store_has(r, name));
        read_field(r, name, buf, &chunk);
    }
    FUZZ_CHECK(!rvt_store_dataset_name(r, d));
    free(buf);
    rvt_store_chunk_release(&chunk);
    rvt_store_close(&r);
    FUZZ_CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
    return 0;
}
