/* index_summary.c: ravdess-index's summary lines (index.h: rvt_index_log_summary). */
#include "core/common.h"

#include "core/log.h"
#include "ravdess/index.h"

void rvt_index_log_summary(const struct rvt_index *idx, const struct rvt_index_report *rep,
                           int n_roots, const struct rvt_index_options *o)
{
    static const char *const need_names[3] = {"av", "audio", "video"};
    int s;

    rvt_infof("%zu clip%s from %zu corpus file%s under %d root%s (modality %s, labels %s)",
              idx->n, idx->n == 1 ? "" : "s", rep->n_files, rep->n_files == 1 ? "" : "s", n_roots, n_roots == 1 ? "" : "s", need_names[o->need],
              o->labels.kind == RVT_LABELSET_SEED7 ? "seed7" : "native8");
#define PL(n) (n) == 1 ? "" : "s"
    rvt_infof("split: train %zu clip%s (%zu actor%s), val %zu clip%s (%zu actor%s), test %zu "
              "clip%s (%zu actor%s)",
              rep->n_split[0], PL(rep->n_split[0]), rep->n_split_actors[0],
              PL(rep->n_split_actors[0]), rep->n_split[1], PL(rep->n_split[1]),
              rep->n_split_actors[1], PL(rep->n_split_actors[1]), rep->n_split[2],
              PL(rep->n_split[2]), rep->n_split_actors[2], PL(rep->n_split_actors[2]));
#undef PL
    for (s = 0; s < 3; s++)
        if (idx->n && !rep->n_split[s])
            rvt_warnf("split '%s' is empty (no actor of the corpus is assigned to it)",
                      rvt_split_name((enum rvt_split)s));
    if (rep->n_vocal_left_out)
        rvt_infof("left out %zu %s clip%s (corpus.vocal %s)", rep->n_vocal_left_out,
                  o->vocal == RVT_VOCAL_SPEECH ? "song" : "speech",
                  rep->n_vocal_left_out == 1 ? "" : "s",
                  o->vocal == RVT_VOCAL_SPEECH ? "speech" : "song");
    if (rep->n_calm_dropped)
        rvt_infof("left out %zu calm clip%s (labels.calm drop)", rep->n_calm_dropped,
                  rep->n_calm_dropped == 1 ? "" : "s");
    if (rep->n_video_only)
        rvt_debugf("%zu video-only (02) mp4 files checked%s", rep->n_video_only,
                   o->need == RVT_INDEX_NEED_VIDEO ? "" : ", not used");
    if (rep->n_ignored)
        rvt_debugf("ignored %zu files that are not corpus files", rep->n_ignored);
}
