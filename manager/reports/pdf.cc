// The PDF writer: cairo's PDF surface, text laid out by pango (fontconfig finds the Japanese
// glyphs: fonts-ipafont-gothic), charts drawn with cairo. A4 portrait, tables broken across
// pages with their header repeated, a page number at the foot of each page.
#include <cairo-pdf.h>
#include <cairo.h>
#include <fmt/format.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <memory>

#include "manager/reports/i18n.h"
#include "manager/reports/render.h"

namespace ward::manager::reports {

namespace {

constexpr double kPageW = 595.28;  // A4 in points
constexpr double kPageH = 841.89;
constexpr double kMargin = 42;
constexpr double kContentW = kPageW - 2 * kMargin;
constexpr double kBottom = kPageH - kMargin - 14;  // room for the page number
constexpr double kCellPad = 3;
constexpr const char* kFamily = "DejaVu Sans, IPAPGothic, Noto Sans CJK JP, sans-serif";

struct Rgb {
  double r, g, b;
};
constexpr Rgb kInk{0.11, 0.14, 0.2};
constexpr Rgb kRule{0.8, 0.82, 0.87};
constexpr Rgb kHeaderFill{0.93, 0.945, 0.965};
// info, low, medium, high, critical
constexpr Rgb kSeverity[5] = {{0.62, 0.68, 0.76},
                              {0.35, 0.6, 0.85},
                              {0.96, 0.73, 0.2},
                              {0.91, 0.45, 0.16},
                              {0.75, 0.13, 0.13}};
// met, partly met, not met, not applicable
constexpr Rgb kStatus[4] = {
    {0.09, 0.41, 0.18}, {0.6, 0.38, 0.0}, {0.7, 0.15, 0.12}, {0.45, 0.45, 0.45}};

struct SurfaceFree {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct CairoFree {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
struct LayoutFree {
  void operator()(PangoLayout* l) const { g_object_unref(l); }
};
struct FontFree {
  void operator()(PangoFontDescription* f) const { pango_font_description_free(f); }
};

cairo_status_t Append(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

void SetColor(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

class Writer {
 public:
  explicit Writer(cairo_t* cr) : cr_(cr), layout_(pango_cairo_create_layout(cr)) {}

  // Text as plain text (never pango markup: the values come from the database).
  void SetText(std::string_view text, double size, bool bold, double width) {
    std::unique_ptr<PangoFontDescription, FontFree> font(
        pango_font_description_from_string(fmt::format("{} {}", kFamily, size).c_str()));
    pango_font_description_set_weight(font.get(), bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(layout_.get(), font.get());
    pango_layout_set_width(layout_.get(), width > 0 ? static_cast<int>(width * PANGO_SCALE) : -1);
    pango_layout_set_wrap(layout_.get(), PANGO_WRAP_WORD_CHAR);
    pango_layout_set_text(layout_.get(), text.data(), static_cast<int>(text.size()));
  }
  double Height() const {
    int w = 0, h = 0;
    pango_layout_get_size(layout_.get(), &w, &h);
    return static_cast<double>(h) / PANGO_SCALE;
  }
  double Width() const {
    int w = 0, h = 0;
    pango_layout_get_size(layout_.get(), &w, &h);
    return static_cast<double>(w) / PANGO_SCALE;
  }
  void Draw(double x, double y, Rgb color = kInk) {
    SetColor(cr_, color);
    cairo_move_to(cr_, x, y);
    pango_cairo_show_layout(cr_, layout_.get());
  }
  // Measures and draws in one go; returns the height.
  double Text(std::string_view text, double x, double y, double size, bool bold, double width,
              Rgb color = kInk) {
    SetText(text, size, bold, width);
    Draw(x, y, color);
    return Height();
  }

  // Page flow.
  void Ensure(double height) {
    if (y_ + height > kBottom) NewPage();
  }
  void NewPage() {
    Footer();
    cairo_show_page(cr_);
    ++page_;
    y_ = kMargin;
  }
  void Footer() {
    SetText(std::to_string(page_), 8, false, -1);
    Draw((kPageW - Width()) / 2, kPageH - kMargin + 2, {0.45, 0.45, 0.45});
  }
  double& y() { return y_; }
  cairo_t* cr() { return cr_; }

 private:
  cairo_t* cr_;
  std::unique_ptr<PangoLayout, LayoutFree> layout_;
  double y_ = kMargin;
  int page_ = 1;
};

// Column widths: numbers get what they need, text columns share the rest by their natural width.
std::vector<double> ColumnWidths(Writer& w, const Table& t, double size) {
  size_t n = t.header.size();
  std::vector<double> natural(n, 0);
  auto measure = [&](size_t c, const std::string& s, bool bold) {
    w.SetText(s, size, bold, -1);
    natural[c] = std::max(natural[c], w.Width() + 2 * kCellPad + 1);
  };
  for (size_t c = 0; c < n; ++c) measure(c, t.header[c], true);
  for (const auto& row : t.rows) {
    for (size_t c = 0; c < n && c < row.size(); ++c) measure(c, row[c], false);
  }
  double total = 0;
  for (double x : natural) total += x;
  if (total <= kContentW) return natural;
  double fixed = 0, flexible = 0;
  for (size_t c = 0; c < n; ++c) {
    bool numeric = c < t.numeric.size() && t.numeric[c];
    (numeric ? fixed : flexible) += natural[c];
  }
  std::vector<double> out = natural;
  double room = std::max(kContentW - fixed, 40.0 * n);
  for (size_t c = 0; c < n; ++c) {
    bool numeric = c < t.numeric.size() && t.numeric[c];
    if (!numeric) out[c] = std::max(36.0, natural[c] / flexible * room);
  }
  return out;
}

void DrawRow(Writer& w, const std::vector<std::string>& cells, const std::vector<double>& widths,
             const Table& t, double size, bool header, int status) {
  // Measure first (a row is never split), then draw.
  double h = 0;
  for (size_t c = 0; c < widths.size(); ++c) {
    w.SetText(c < cells.size() ? cells[c] : "", size, header, widths[c] - 2 * kCellPad);
    h = std::max(h, w.Height());
  }
  h += 2 * kCellPad;
  double x = kMargin;
  cairo_t* cr = w.cr();
  if (header) {
    SetColor(cr, kHeaderFill);
    double total = 0;
    for (double cw : widths) total += cw;
    cairo_rectangle(cr, kMargin, w.y(), total, h);
    cairo_fill(cr);
  }
  for (size_t c = 0; c < widths.size(); ++c) {
    const std::string& s = c < cells.size() ? cells[c] : std::string();
    Rgb color = kInk;
    if (!header && c == 1 && status >= 0 && status < 4) color = kStatus[status];
    w.SetText(s, size, header || (c == 1 && status >= 0), widths[c] - 2 * kCellPad);
    double tx = x + kCellPad;
    bool numeric = !header && c < t.numeric.size() && t.numeric[c];
    if (numeric) tx = x + widths[c] - kCellPad - w.Width();
    w.Draw(tx, w.y() + kCellPad, color);
    SetColor(cr, kRule);
    cairo_set_line_width(cr, 0.5);
    cairo_rectangle(cr, x, w.y(), widths[c], h);
    cairo_stroke(cr);
    x += widths[c];
  }
  w.y() += h;
}

double RowHeight(Writer& w, const std::vector<std::string>& cells,
                 const std::vector<double>& widths, double size, bool header) {
  double h = 0;
  for (size_t c = 0; c < widths.size(); ++c) {
    w.SetText(c < cells.size() ? cells[c] : "", size, header, widths[c] - 2 * kCellPad);
    h = std::max(h, w.Height());
  }
  return h + 2 * kCellPad;
}

void DrawTable(Writer& w, const Table& t) {
  constexpr double kSize = 7.5;
  auto widths = ColumnWidths(w, t, kSize);
  double header_h = RowHeight(w, t.header, widths, kSize, true);
  w.Ensure(header_h * 2 + 4);
  DrawRow(w, t.header, widths, t, kSize, true, -1);
  for (size_t r = 0; r < t.rows.size(); ++r) {
    double h = RowHeight(w, t.rows[r], widths, kSize, false);
    if (w.y() + h > kBottom) {
      w.NewPage();
      DrawRow(w, t.header, widths, t, kSize, true, -1);
    }
    DrawRow(w, t.rows[r], widths, t, kSize, false, r < t.row_status.size() ? t.row_status[r] : -1);
  }
  w.y() += 8;
}

void Legend(Writer& w, Language l, double x, double y) {
  for (int s = 0; s < 5; ++s) {
    SetColor(w.cr(), kSeverity[s]);
    cairo_rectangle(w.cr(), x, y + 2, 8, 8);
    cairo_fill(w.cr());
    w.SetText(SeverityText(l, s), 7, false, -1);
    w.Draw(x + 11, y);
    x += 11 + w.Width() + 10;
  }
}

std::string Short(int64_t n) {
  if (n >= 1'000'000) return fmt::format("{:.1f}M", static_cast<double>(n) / 1e6);
  if (n >= 10'000) return fmt::format("{}k", n / 1000);
  return std::to_string(n);
}

// Stacked bars: one per day, by severity.
void ChartPerDay(Writer& w, const ReportData& d) {
  constexpr double kH = 150;
  w.Ensure(kH + 40);
  cairo_t* cr = w.cr();
  const auto& days = d.summary.per_day;
  int64_t max = 1;
  for (const auto& day : days) {
    int64_t sum = 0;
    for (auto c : day.by_severity) sum += c;
    max = std::max(max, sum);
  }
  max = (max + 3) / 4 * 4;  // four grid steps of whole numbers
  double left = kMargin + 34, top = w.y() + 6, width = kContentW - 34, bottom = top + kH;
  SetColor(cr, kRule);
  cairo_set_line_width(cr, 0.5);
  for (int i = 0; i <= 4; ++i) {
    double y = bottom - kH * i / 4;
    cairo_move_to(cr, left, y);
    cairo_line_to(cr, left + width, y);
    cairo_stroke(cr);
    w.SetText(Short(max * i / 4), 7, false, -1);
    w.Draw(left - 4 - w.Width(), y - 5, {0.4, 0.4, 0.4});
  }
  double slot = days.empty() ? width : width / static_cast<double>(days.size());
  double bar = std::max(1.0, slot * 0.7);
  for (size_t i = 0; i < days.size(); ++i) {
    double x = left + slot * static_cast<double>(i) + (slot - bar) / 2;
    double y = bottom;
    for (int s = 0; s < 5; ++s) {
      double h = kH * static_cast<double>(days[i].by_severity[s]) / static_cast<double>(max);
      if (h <= 0) continue;
      SetColor(cr, kSeverity[s]);
      cairo_rectangle(cr, x, y - h, bar, h);
      cairo_fill(cr);
      y -= h;
    }
  }
  // First, middle and last day under the axis.
  if (!days.empty()) {
    for (size_t i : {size_t{0}, days.size() / 2, days.size() - 1}) {
      w.SetText(DayText(days[i].day).substr(5), 7, false, -1);
      double x = left + slot * (static_cast<double>(i) + 0.5) - w.Width() / 2;
      w.Draw(std::clamp(x, left, left + width - w.Width()), bottom + 2, {0.4, 0.4, 0.4});
    }
  }
  Legend(w, d.request.language, left, bottom + 14);
  w.y() = bottom + 32;
}

// Horizontal bars: one per module, by severity.
void ChartByModule(Writer& w, const ReportData& d) {
  const auto& modules = d.summary.by_module;
  if (modules.empty()) return;
  constexpr double kBar = 13;
  double h = static_cast<double>(modules.size()) * (kBar + 5) + 24;
  w.Ensure(h + 10);
  cairo_t* cr = w.cr();
  int64_t max = 1;
  for (const auto& m : modules) max = std::max(max, m.total);
  double label_w = 80, left = kMargin + label_w, width = kContentW - label_w - 50;
  double y = w.y() + 6;
  for (const auto& m : modules) {
    w.SetText(m.module, 8, false, label_w - 6);
    w.Draw(kMargin, y + 1);
    double x = left;
    for (int s = 0; s < 5; ++s) {
      double bw = width * static_cast<double>(m.by_severity[s]) / static_cast<double>(max);
      if (bw <= 0) continue;
      SetColor(cr, kSeverity[s]);
      cairo_rectangle(cr, x, y, bw, kBar);
      cairo_fill(cr);
      x += bw;
    }
    w.SetText(std::to_string(m.total), 8, false, -1);
    w.Draw(x + 4, y + 1);
    y += kBar + 5;
  }
  Legend(w, d.request.language, left, y + 2);
  w.y() = y + 22;
}

// One box per requirement, coloured by its status.
void ChartPciStatus(Writer& w, const ReportData& d) {
  if (d.pci.empty()) return;
  constexpr double kH = 46;
  w.Ensure(kH + 12);
  double gap = 6;
  double bw =
      (kContentW - gap * static_cast<double>(d.pci.size() - 1)) / static_cast<double>(d.pci.size());
  double x = kMargin, y = w.y() + 4;
  for (const auto& r : d.pci) {
    int s = static_cast<int>(r.status);
    SetColor(w.cr(), kStatus[s]);
    cairo_rectangle(w.cr(), x, y, bw, kH);
    cairo_fill(w.cr());
    w.Text(r.id, x + 6, y + 5, 11, true, bw - 12, {1, 1, 1});
    w.Text(StatusText(d.request.language, r.status), x + 6, y + 24, 8, false, bw - 12, {1, 1, 1});
    x += bw + gap;
  }
  w.y() = y + kH + 10;
}

}  // namespace

Result<std::string> RenderPdf(const ReportData& data) {
  Document doc = Layout(data);
  std::string out;
  std::unique_ptr<cairo_surface_t, SurfaceFree> surface(
      cairo_pdf_surface_create_for_stream(&Append, &out, kPageW, kPageH));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    return Internal(fmt::format("cairo pdf surface: {}",
                                cairo_status_to_string(cairo_surface_status(surface.get()))));
  }
  cairo_pdf_surface_set_metadata(surface.get(), CAIRO_PDF_METADATA_TITLE, doc.title.c_str());
  cairo_pdf_surface_set_metadata(surface.get(), CAIRO_PDF_METADATA_CREATOR, "Ward manager");
  {
    std::unique_ptr<cairo_t, CairoFree> cr(cairo_create(surface.get()));
    Writer w(cr.get());
    w.y() += w.Text(doc.title, kMargin, w.y(), 18, true, kContentW) + 6;
    for (const auto& [label, value] : doc.meta) {
      w.SetText(label, 9, true, -1);
      w.Draw(kMargin, w.y());
      w.y() += w.Text(value, kMargin + 90, w.y(), 9, false, kContentW - 90) + 2;
    }
    w.y() += 8;
    for (const auto& s : doc.sections) {
      w.Ensure(60);
      Rgb color = s.status >= 0 && s.status < 4 ? kStatus[s.status] : kInk;
      w.y() += w.Text(s.title, kMargin, w.y(), 12.5, true, kContentW, color) + 4;
      switch (s.chart) {
        case Chart::kEventsPerDay:
          ChartPerDay(w, data);
          break;
        case Chart::kEventsByModule:
          ChartByModule(w, data);
          break;
        case Chart::kPciStatus:
          ChartPciStatus(w, data);
          break;
        case Chart::kNone:
          break;
      }
      for (const auto& p : s.paragraphs) {
        w.SetText(p, 8.5, false, kContentW);
        w.Ensure(w.Height());
        w.Draw(kMargin, w.y());
        w.y() += w.Height() + 3;
      }
      w.y() += 3;
      if (!s.table.header.empty()) DrawTable(w, s.table);
      w.y() += 6;
    }
    w.Footer();
    cairo_show_page(cr.get());
    if (cairo_status(cr.get()) != CAIRO_STATUS_SUCCESS) {
      return Internal(fmt::format("cairo: {}", cairo_status_to_string(cairo_status(cr.get()))));
    }
  }
  cairo_surface_finish(surface.get());
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    return Internal(
        fmt::format("cairo pdf: {}", cairo_status_to_string(cairo_surface_status(surface.get()))));
  }
  surface.reset();
  return out;
}

}  // namespace ward::manager::reports
