/*
 * hash.h: sha256 (FFmpeg's av_sha) of buffers and files, and the stable shard
 * hash of clip ids.
 */
#ifndef RVT_CORE_HASH_H
#define RVT_CORE_HASH_H

#include "core/common.h"

/* hex receives 64 lower-case hex digits and a NUL. */
void rvt_sha256_hex(const void *data, size_t len, char hex[65]);
int rvt_sha256_file(const char *path, char hex[65], struct rvt_error *err);

/* 64-bit FNV-1a of a string: stable across machines and runs. */
uint64_t rvt_fnv1a64(const char *s);

/* Which of n shards a clip id belongs to (0-based): fnv1a64(id) mod n. */
int rvt_shard_of(const char *id, int n);

#endif
