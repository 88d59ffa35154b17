#include "core/common.h"

#include <libavutil/log.h>

#include "core/log.h"
#include "media/media.h"

void rvt_media_set_log_level(int rvt_log_level)
{
    av_log_set_level(rvt_log_level >= RVT_LOG_DEBUG ? AV_LOG_WARNING : AV_LOG_QUIET);
}
