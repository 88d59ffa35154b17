/* index_write.c: index.csv out (see index.h and schemas/index.md). */
#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/csvio.h"
#include "ravdess/index.h"

static void put_int(FILE *fp, int v)
{
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", v);
    rvt_csv_put(fp, buf);
}

int rvt_index_write(const struct rvt_index *idx, FILE *fp, struct rvt_error *err)
{
    size_t i;
    int c;

    for (c = 0; c < 14; c++) {
        if (c)
            fputc(',', fp);
        rvt_csv_put(fp, rvt_index_columns[c]);
    }
    fputc('\n', fp);
    for (i = 0; i < idx->n; i++) {
        const struct rvt_clip *k = &idx->clips[i];
        assert(k->emotion >= 1 && k->emotion <= 8);
        rvt_csv_put(fp, k->id);
        fputc(',', fp);
        put_int(fp, k->actor);
        fputc(',', fp);
        rvt_csv_put(fp, k->female ? "female" : "male");
        fputc(',', fp);
        put_int(fp, k->vocal_channel);
        fputc(',', fp);
        put_int(fp, k->emotion);
        fputc(',', fp);
        rvt_csv_put(fp, rvt_emotion_names[k->emotion]);
        fputc(',', fp);
        put_int(fp, k->intensity);
        fputc(',', fp);
        put_int(fp, k->statement);
        fputc(',', fp);
        put_int(fp, k->repetition);
        fputc(',', fp);
        put_int(fp, k->label);
        fputc(',', fp);
        rvt_csv_put(fp, k->label_name);
        fputc(',', fp);
        rvt_csv_put(fp, rvt_split_name(k->split));
        fputc(',', fp);
        rvt_csv_put(fp, k->video_path_csv ? k->video_path_csv : k->video_path ? k->video_path : "");
        fputc(',', fp);
        rvt_csv_put(fp, k->audio_path_csv ? k->audio_path_csv : k->audio_path ? k->audio_path : "");
        fputc('\n', fp);
    }
    if (ferror(fp))
        return rvt_error_set(err, RVT_EIO, "cannot write the index: %s", strerror(errno));
    return 0;
}
