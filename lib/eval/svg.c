/*
 * confusion.svg: a heat-map of the main group's confusion matrix.
 *
 * Rows are true classes, columns predicted classes.  Each cell shows the count
 * and the row-normalised percentage (the share of the true class); its colour
 * follows that percentage on a white-to-navy scale drawn as a legend on the
 * right.  Rows of classes without clips are grey.  The title gives accuracy
 * and macro F1.  Text is XML-escaped; bytes that are not valid UTF-8 or are
 * control characters become '?', and names longer than MAX_NAME characters are
 * shortened with an ellipsis, so any class name gives a valid, readable file.
 * The size is fixed by the class count and the longest name, so rendering
 * needs no font metrics (widths are estimated at 0.62 em per character).
 */
#include "core/common.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "eval/score.h"

#define MAX_NAME 24
#define FONT "DejaVu Sans, Verdana, Arial, sans-serif"

/* The colour scale: stops at 0, 0.25, 0.5, 0.75, 1 of the row share. */
static const unsigned char scale[5][3] = {
    {0xff, 0xff, 0xff}, {0xcf, 0xe3, 0xf2}, {0x82, 0xb4, 0xdb}, {0x3a, 0x78, 0xba}, {0x12, 0x34, 0x72},
};

static void colour(double x, char out[8])
{
    int i, ch;
    double t;
    unsigned v[3];
    if (!(x > 0))
        x = 0;
    if (x > 1)
        x = 1;
    i = x >= 1 ? 3 : (int)(x * 4);
    t = x * 4 - i;
    for (ch = 0; ch < 3; ch++)
        v[ch] = (unsigned)lround(scale[i][ch] + t * (scale[i + 1][ch] - scale[i][ch]));
    snprintf(out, 8, "#%02x%02x%02x", v[0], v[1], v[2]);
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
    int n, i;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF, and U+FFFE/U+FFFF are not XML */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp == 0xfffe || cp == 0xffff)
        return 0;
    return n;
}

/* Characters (code points) shown for a name: at most MAX_NAME. */
static int display_len(const char *name)
{
    const unsigned char *s = (const unsigned char *)name;
    int chars = 0;
    while (*s) {
        int n = utf8_len(s);
        s += n ? n : 1;
        chars++;
    }
    return RVT_MIN(chars, MAX_NAME);
}

/* Writes text escaped for XML character data and attribute values. */
static void put_text(FILE *fp, const char *text, int max_chars)
{
    const unsigned char *s = (const unsigned char *)text;
    int chars = 0;
    while (*s) {
        int n = utf8_len(s);
        if (chars == max_chars - 1 && s[n ? n : 1]) {
            fputs("\xe2\x80\xa6", fp); /* U+2026 HORIZONTAL ELLIPSIS */
            return;
        }
        if (n == 1) {
            switch (*s) {
            case '&': fputs("&amp;", fp); break;
            case '<': fputs("&lt;", fp); break;
            case '>': fputs("&gt;", fp); break;
            case '"': fputs("&quot;", fp); break;
            case '\'': fputs("&apos;", fp); break;
            default: fputc(*s < 0x20 || *s == 0x7f ? '?' : *s, fp); break;
            }
        } else if (n > 1) {
            fwrite(s, 1, (size_t)n, fp);
        } else {
            fputc('?', fp);
            n = 1;
        }
        s += n;
        chars++;
    }
}

int rvt_score_write_confusion_svg(FILE *fp, const struct rvt_score *s)
{
    const struct rvt_predictions *p = s->preds;
    const struct rvt_score_group *g = &s->groups[s->main_group];
    const struct rvt_metrics *m = &g->m;
    int k = p->n_classes, t, q, i, name_chars = 1;
    double cell = k <= 10 ? 72 : k <= 20 ? 48 : 30;
    double fs_count = cell / 4.5, fs_pct = cell / 6.5, fs_name = 13;
    double name_w, gx, gy, gw, lx, width, height, col_h, bar_w = 16;
    bool rotate;

    for (i = 0; i < k; i++)
        name_chars = RVT_MAX(name_chars, display_len(p->classes[i]));
    name_w = name_chars * 0.62 * fs_name;
    rotate = name_w > cell - 6;
    /* rotated column names need sin(45) of their length below the grid */
    col_h = rotate ? name_w * 0.7072 + 14 : fs_name + 10;
    gw = cell * k;
    gx = 20 + 22 + name_w + 10; /* margin, "true class" title, row names */
    gy = 92;
    lx = gx + gw + 28; /* legend */
    /* wide enough for the legend and for the title (about 52 characters at 18 px) */
    width = ceil(RVT_MAX(lx + bar_w + 48 + 16, 20 + 52 * 0.62 * 18 + 20));
    height = ceil(gy + gw + col_h + 40);

    fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(fp,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"%s\">\n",
            width, height, width, height, FONT);
    fprintf(fp, "<title>Confusion matrix: accuracy %.4f, macro F1 %.4f</title>\n",
            m->overall[RVT_METRIC_ACCURACY], m->overall[RVT_METRIC_F1_MACRO]);
    fprintf(fp, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    fprintf(fp,
            "<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\" fill=\"#111111\">"
            "Confusion matrix: accuracy %.4f, macro F1 %.4f</text>\n",
            m->overall[RVT_METRIC_ACCURACY], m->overall[RVT_METRIC_F1_MACRO]);
    fprintf(fp, "<text x=\"20\" y=\"52\" font-size=\"12\" fill=\"#444444\">%zu clips, split ", m->n);
    put_text(fp, rvt_score_split_name(s, g), MAX_NAME);
    if (p->n_files >= 2)
        fprintf(fp, ", %d folds pooled", p->n_files);
    fprintf(fp, "; each cell: count and %% of its true class</text>\n");

    /* cells */
    for (t = 0; t < k; t++) {
        int64_t row = 0;
        for (q = 0; q < k; q++)
            row += m->confusion[(size_t)t * k + q];
        for (q = 0; q < k; q++) {
            int64_t v = m->confusion[(size_t)t * k + q];
            double x = gx + q * cell, y = gy + t * cell, share = row ? (double)v / (double)row : 0;
            char fill[8];
            const char *ink = share > 0.55 ? "#ffffff" : "#1a1a1a";
            if (row)
                colour(share, fill);
            else
                strcpy(fill, "#e6e6e6");
            fprintf(fp,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                    "stroke=\"#bbbbbb\" stroke-width=\"0.5\"/>\n",
                    x, y, cell, cell, fill);
            fprintf(fp,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" font-weight=\"bold\" "
                    "text-anchor=\"middle\" fill=\"%s\">%" PRId64 "</text>\n",
                    x + cell / 2, y + cell / 2 - fs_pct * 0.15, fs_count, ink, v);
            if (row)
                fprintf(fp,
                        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"middle\" "
                        "fill=\"%s\">%.1f%%</text>\n",
                        x + cell / 2, y + cell / 2 + fs_pct * 1.25, fs_pct, ink, 100 * share);
            else
                fprintf(fp,
                        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"middle\" "
                        "fill=\"#666666\">no clips</text>\n",
                        x + cell / 2, y + cell / 2 + fs_pct * 1.25, fs_pct);
        }
    }
    /* the diagonal outlined last, so no neighbouring cell paints over it */
    for (t = 0; t < k; t++)
        fprintf(fp,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                "stroke=\"#333333\" stroke-width=\"1.5\"/>\n",
                gx + t * cell, gy + t * cell, cell, cell);
    fprintf(fp,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333333\" stroke-width=\"1\"/>\n",
            gx, gy, gw, gw);

    /* row names (true class) and column names (predicted class) */
    for (t = 0; t < k; t++) {
        fprintf(fp,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"end\" "
                "dominant-baseline=\"middle\" fill=\"#111111\">",
                gx - 8, gy + t * cell + cell / 2, fs_name);
        put_text(fp, p->classes[t], MAX_NAME);
        fputs("</text>\n", fp);
    }
    for (q = 0; q < k; q++) {
        double x = gx + q * cell + cell / 2, y = gy + gw + 16;
        if (rotate)
            fprintf(fp,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"end\" "
                    "fill=\"#111111\" transform=\"rotate(-45 %.1f %.1f)\">",
                    x + 4, y - 4, fs_name, x + 4, y - 4);
        else
            fprintf(fp,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"middle\" "
                    "fill=\"#111111\">",
                    x, y, fs_name);
        put_text(fp, p->classes[q], MAX_NAME);
        fputs("</text>\n", fp);
    }
    fprintf(fp,
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\" "
            "text-anchor=\"middle\" fill=\"#111111\">predicted class</text>\n",
            gx + gw / 2, gy + gw + col_h + 18);
    fprintf(fp,
            "<text x=\"28\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\" "
            "text-anchor=\"middle\" fill=\"#111111\" transform=\"rotate(-90 28 %.1f)\">"
            "true class</text>\n",
            gy + gw / 2, gy + gw / 2);

    /* colour scale */
    fprintf(fp, "<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
    for (i = 0; i < 5; i++)
        fprintf(fp, "<stop offset=\"%.2f\" stop-color=\"#%02x%02x%02x\"/>", i / 4.0, scale[i][0],
                scale[i][1], scale[i][2]);
    fprintf(fp, "</linearGradient></defs>\n");
    fprintf(fp,
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#111111\">%% of row</text>\n",
            lx - 4, gy - 10);
    fprintf(fp,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"url(#scale)\" "
            "stroke=\"#333333\" stroke-width=\"0.5\"/>\n",
            lx, gy, bar_w, gw);
    for (i = 0; i <= 4; i++) {
        double y = gy + gw - gw * i / 4.0;
        fprintf(fp,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\" "
                "stroke-width=\"1\"/>\n",
                lx + bar_w, y, lx + bar_w + 4, y);
        fprintf(fp,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" dominant-baseline=\"middle\" "
                "fill=\"#111111\">%d%%</text>\n",
                lx + bar_w + 7, y, 25 * i);
    }
    fputs("</svg>\n", fp);
    return ferror(fp) ? RVT_EIO : 0;
}
