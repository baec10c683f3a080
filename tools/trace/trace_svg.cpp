// tools/trace/trace_svg.cpp — draws a trace as an SVG swimlane picture (see trace_svg.hpp).
//
// Layout, top to bottom: the heading, the time axis (ticks at 1, 2 or 5 times a power of ten, labelled in
// the unit that fits the step), one lane per child with grid lines behind, then the legend. A part at
// least one pixel wide is a <rect>; narrower ones add their share of each pixel column they cover to the
// lane's columns, and runs of columns at the same (quantised) busyness become one density band. Failed and
// critical narrow parts mark their columns the same way, as thin red and dark bands.
#include "trace_svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_set>
#include <vector>

namespace strata::trace_reader {

namespace {

constexpr double kLabelWidth = 220;  // the lane names, left of the plot
constexpr double kRightMargin = 24;
constexpr double kAxisY = 66;  // the axis line; the lanes start below it
constexpr double kLanesTop = 74;
constexpr double kLaneHeight = 22;
constexpr double kLaneGap = 6;
constexpr double kCharWidth = 6.5;  // of the 12 px font, roughly
constexpr size_t kLabelChars = 32;  // lane and legend names are clipped to this in the picture
constexpr size_t kMaxLegendNames = 60;
constexpr int kDensityLevels = 8;

constexpr const char* kFailedColour = "#d62728";
constexpr const char* kCriticalColour = "#111111";
constexpr const char* kDensityColour = "#34495e";
// Tableau 20 without its reds (red means failed).
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#9c755f",
                                    "#a0cbe8", "#ffbe7d", "#8cd17d", "#f1ce63", "#86bcb6", "#d4a6c8", "#bab0ac",
                                    "#499894", "#b6992d", "#fabfd2", "#d7b5a6", "#79706e", "#ff9d9a"};
constexpr size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];

// A coordinate: one decimal, no trailing ".0".
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.ends_with(".0")) s.resize(s.size() - 2);
  if (s == "-0") s = "0";
  return s;
}

std::string clip(const std::string& s, size_t chars) { return s.size() <= chars ? s : s.substr(0, chars - 3) + "..."; }

// Where the ticks of the time axis go and how they are labelled.
struct Axis {
  double step_us = 1;
  double unit_us = 1;
  const char* unit = "us";
  int decimals = 0;

  explicit Axis(double span_us) {
    const double raw = span_us / 10;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0}) {
      step_us = m * magnitude;
      if (step_us >= raw) break;
    }
    if (step_us >= 1e6) {
      unit_us = 1e6;
      unit = "s";
    } else if (step_us >= 1e3) {
      unit_us = 1e3;
      unit = "ms";
    }
    decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step_us / unit_us) + 1e-9)));
  }
  std::string label(double t_us) const {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f %s", decimals, t_us / unit_us, unit);
    return buf;
  }
};

// One lane's pixel columns, for the parts narrower than a pixel.
struct Columns {
  std::vector<double> busy;  // the fraction of the column's time the lane ran narrow parts
  std::vector<uint32_t> parts, failed, critical;

  explicit Columns(size_t n) : busy(n, 0), parts(n, 0), failed(n, 0), critical(n, 0) {}
  size_t size() const { return busy.size(); }
};

class SvgWriter {
 public:
  SvgWriter(const Trace& trace, const std::optional<CriticalPath>& path, const SvgOptions& options)
      : t_(trace),
        path_(path),
        width_(std::max(options.width, 600)),
        plot_width_(std::floor(width_ - kLabelWidth - kRightMargin)),
        span_(trace.span_us > 0 ? trace.span_us : 1),
        title_(options.title.empty() ? "strata trace: " + trace.path : options.title) {
    if (path_)
      for (const PathStep& s : path_->steps) on_path_.insert(s.task);
    std::vector<uint8_t> used(t_.names.size(), 0);
    for (uint32_t lane : t_.lanes)
      for (uint32_t p : t_.tracks[lane].parts) used[t_.tasks[t_.parts[p].task].name] = 1;
    for (uint32_t i = 0; i < used.size(); ++i)
      if (used[i]) kernels_.push_back(i);
    std::sort(kernels_.begin(), kernels_.end(), [&](uint32_t a, uint32_t b) { return t_.names[a] < t_.names[b]; });
    colour_of_.assign(t_.names.size(), 0);
    for (size_t i = 0; i < kernels_.size(); ++i) colour_of_[kernels_[i]] = i % kPaletteSize;
    not_run_.resize(t_.tracks.size());
    for (uint32_t i = 0; i < t_.parts.size(); ++i)
      if (!t_.parts[i].ran) not_run_[t_.parts[i].track].push_back(i);
  }

  std::string write() {
    const double lanes_bottom = kLanesTop + static_cast<double>(t_.lanes.size()) * (kLaneHeight + kLaneGap);
    const double legend_top = lanes_bottom + 24;
    const double height = legend_top + legend(legend_top, false) + 16;
    s_ += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s_ += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width_) + "\" height=\"" + num(height) +
          "\" viewBox=\"0 0 " + num(width_) + " " + num(height) +
          "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
    s_ += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
    heading();
    axis(lanes_bottom);
    for (size_t i = 0; i < t_.lanes.size(); ++i) lane(t_.lanes[i], lane_top(i));
    critical_links();
    legend(legend_top, true);
    s_ += "</svg>\n";
    return std::move(s_);
  }

 private:
  double x_of(double t_us) const { return kLabelWidth + std::clamp(t_us / span_, 0.0, 1.0) * plot_width_; }
  static double lane_top(size_t row) { return kLanesTop + static_cast<double>(row) * (kLaneHeight + kLaneGap); }

  void text(double x, double y, const std::string& content, const std::string& attributes = "") {
    s_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"" + (attributes.empty() ? "" : " " + attributes) + ">" +
          xml_escape(content) + "</text>\n";
  }

  void heading() {
    text(16, 22, title_, "font-size=\"15\" font-weight=\"bold\"");
    std::string line = std::to_string(t_.lanes.size()) + (t_.lanes.size() == 1 ? " child, " : " children, ") +
                       std::to_string(t_.tasks.size()) + " tasks, " + format_duration(t_.span_us) +
                       " from the first task's start to the last task's end";
    if (path_)
      line += "; critical path of run " + std::to_string(path_->run_ordinal) + " of " + std::to_string(path_->runs) +
              ": " + std::to_string(path_->steps.size()) + (path_->steps.size() == 1 ? " task, " : " tasks, ") +
              format_duration(path_->total_us) + " (outlined)";
    if (t_.dropped_events && *t_.dropped_events) line += "; " + std::to_string(*t_.dropped_events) + " events dropped";
    text(16, 40, line, "fill=\"#444444\"");
    if (t_.lanes.empty()) text(kLabelWidth, kLanesTop + 14, "no child tracks in this trace", "fill=\"#444444\"");
  }

  void axis(double lanes_bottom) {
    const Axis a(span_);
    s_ += "<g class=\"axis\">\n";
    s_ += "<line x1=\"" + num(kLabelWidth) + "\" y1=\"" + num(kAxisY) + "\" x2=\"" + num(kLabelWidth + plot_width_) +
          "\" y2=\"" + num(kAxisY) + "\" stroke=\"#333333\"/>\n";
    for (int64_t k = 0;; ++k) {
      const double t = static_cast<double>(k) * a.step_us;
      if (t > span_ * (1 + 1e-9)) break;
      const double x = x_of(t);
      s_ += "<line class=\"grid\" x1=\"" + num(x) + "\" y1=\"" + num(kAxisY - 4) + "\" x2=\"" + num(x) + "\" y2=\"" +
            num(lanes_bottom) + "\" stroke=\"#e3e3e3\"/>\n";
      text(x, kAxisY - 8, a.label(t), "text-anchor=\"middle\" fill=\"#333333\"");
    }
    s_ += "</g>\n";
  }

  std::string tooltip(const Part& p) const {
    const Task& task = t_.tasks[p.task];
    std::string s = t_.name_of(task) + "\ntask " + std::to_string(task.id);
    if (task.graph != 0) s += " of " + t_.graphs[task.graph];
    if (task.run >= 0) s += ", run " + std::to_string(task.run);
    if (task.part_count > 1) s += ", part " + std::to_string(p.part) + " of " + std::to_string(task.part_count);
    s += "\nstart " + format_duration(p.start) + ", " + format_duration(p.dur) + ", " + status_name(p.status);
    if (p.error) s += ": " + t_.errors[p.error];
    if (on_path_.contains(p.task)) s += "\non the critical path";
    return s;
  }

  void box(const Part& p, double x0, double x1, double y) {
    const Task& task = t_.tasks[p.task];
    const bool critical = on_path_.contains(p.task), failed = p.status != TaskStatus::Ok;
    const double w = x1 - x0;
    s_ += std::string("<rect class=\"task") + (critical ? " critical" : "") + (failed ? " failed" : "") + "\" x=\"" +
          num(x0) + "\" y=\"" + num(y + 1) + "\" width=\"" + num(w) + "\" height=\"" + num(kLaneHeight - 2) +
          "\" fill=\"" + (failed ? kFailedColour : kPalette[colour_of_[task.name]]) + "\"" +
          (critical ? std::string(" stroke=\"") + kCriticalColour + "\" stroke-width=\"2.5\"" : "") + "><title>" +
          xml_escape(tooltip(p)) + "</title></rect>\n";
    const double room = (w - 6) / kCharWidth;
    if (room >= 4)
      text(x0 + 3, y + 15, clip(t_.name_of(task), static_cast<size_t>(room)),
           std::string("font-size=\"11\" pointer-events=\"none\" fill=\"") + (failed ? "#ffffff" : "#1a1a1a") + "\"");
  }

  // Adds a part narrower than a pixel to the columns it covers.
  void add_narrow(Columns& c, const Part& p, double x0, double x1) const {
    const double a = x0 - kLabelWidth, b = x1 - kLabelWidth;
    const size_t first = std::min(static_cast<size_t>(std::max(0.0, a)), c.size() - 1);
    for (size_t col = first; col < c.size() && static_cast<double>(col) < b; ++col)
      c.busy[col] += std::min(b, static_cast<double>(col + 1)) - std::max(a, static_cast<double>(col));
    ++c.parts[first];
    if (p.status != TaskStatus::Ok) ++c.failed[first];
    if (on_path_.contains(p.task)) ++c.critical[first];
  }

  // Runs of columns with the same non-zero level(col) as one rect each; `describe(count)` is its tooltip.
  template <class Level, class Count, class Describe>
  void bands(const Columns& c, const char* cls, const char* colour, double y, double h, Level level, Count count,
             Describe describe) {
    for (size_t col = 0; col < c.size();) {
      const int lv = level(col);
      if (lv == 0) {
        ++col;
        continue;
      }
      size_t end = col;
      uint64_t n = 0;
      while (end < c.size() && level(end) == lv) n += count(end++);
      s_ += std::string("<rect class=\"") + cls + "\" x=\"" + num(kLabelWidth + static_cast<double>(col)) + "\" y=\"" +
            num(y) + "\" width=\"" + num(static_cast<double>(end - col)) + "\" height=\"" + num(h) + "\" fill=\"" +
            colour + "\"" +
            (lv < kDensityLevels ? " fill-opacity=\"" + num(static_cast<double>(lv) / kDensityLevels) + "\"" : "") +
            "><title>" + xml_escape(describe(n)) + "</title></rect>\n";
      col = end;
    }
  }

  void lane(uint32_t track, double y) {
    const Track& tr = t_.tracks[track];
    s_ += "<g class=\"lane\" data-track=\"" + xml_escape(tr.name) + "\">\n";
    s_ += "<line x1=\"" + num(kLabelWidth) + "\" y1=\"" + num(y + kLaneHeight) + "\" x2=\"" +
          num(kLabelWidth + plot_width_) + "\" y2=\"" + num(y + kLaneHeight) + "\" stroke=\"#cccccc\"/>\n";
    s_ += "<text x=\"" + num(kLabelWidth - 8) + "\" y=\"" + num(y + 15) + "\" text-anchor=\"end\">" +
          xml_escape(clip(tr.name, kLabelChars)) + "<title>" + xml_escape(tr.name) + "</title></text>\n";
    Columns columns(static_cast<size_t>(plot_width_));
    for (uint32_t index : tr.parts) {
      const Part& p = t_.parts[index];
      if (const double x0 = x_of(p.start), x1 = x_of(p.end()); x1 - x0 < 1) add_narrow(columns, p, x0, x1);
    }
    for (uint32_t index : not_run_[track]) {
      const double x = x_of(t_.parts[index].start);
      add_narrow(columns, t_.parts[index], x, x);
    }
    // The density bands first: boxes drawn one by one go over them.
    bands(
        columns, "density", kDensityColour, y + 1, kLaneHeight - 2,
        [&](size_t col) {
          if (columns.parts[col] == columns.failed[col] && columns.busy[col] == 0) return 0;  // only not-run parts
          const double busy = std::min(1.0, columns.busy[col]);
          return std::clamp(static_cast<int>(std::ceil(busy * kDensityLevels)), 1, kDensityLevels);
        },
        [&](size_t col) { return columns.parts[col]; },
        [](uint64_t n) { return std::to_string(n) + " tasks too short to draw one by one"; });
    for (uint32_t index : tr.parts) {
      const Part& p = t_.parts[index];
      if (const double x0 = x_of(p.start), x1 = x_of(p.end()); x1 - x0 >= 1) box(p, x0, x1, y);
    }
    bands(
        columns, "critical", kCriticalColour, y, 3,
        [&](size_t col) { return columns.critical[col] ? kDensityLevels : 0; },
        [&](size_t col) { return columns.critical[col]; },
        [](uint64_t n) { return std::to_string(n) + " tasks of the critical path"; });
    bands(
        columns, "failed", kFailedColour, y + kLaneHeight - 5, 5,
        [&](size_t col) { return columns.failed[col] ? kDensityLevels : 0; },
        [&](size_t col) { return columns.failed[col]; },
        [](uint64_t n) { return std::to_string(n) + " tasks failed, poisoned or cancelled"; });
    marks(track, y);
    s_ += "</g>\n";
  }

  // Instants on the lane (a child died, was declared lost, respawned): at most one per pixel column.
  void marks(uint32_t track, double y) {
    std::unordered_set<int64_t> used;
    for (const Mark& m : t_.marks) {
      if (m.track != track) continue;
      const double x = x_of(m.ts);
      if (!used.insert(static_cast<int64_t>(x)).second) continue;
      const bool bad = m.name == "died" || m.name == "declared lost";
      s_ += "<polygon class=\"mark\" points=\"" + num(x - 5) + "," + num(y) + " " + num(x + 5) + "," + num(y) + " " +
            num(x) + "," + num(y + 9) + "\" fill=\"" + (bad ? kFailedColour : "#2ca02c") +
            "\" stroke=\"#ffffff\" stroke-width=\"0.8\"><title>" +
            xml_escape(m.name + (m.what.empty() ? "" : ": " + m.what) + " at " + format_duration(m.ts)) +
            "</title></polygon>\n";
    }
  }

  // Lines from each task of the critical path to the next when a dependency links them across lanes (on
  // one lane the outlines show the order), between boxes drawn one by one only: as many as those boxes.
  void critical_links() {
    if (!path_) return;
    std::vector<int64_t> row(t_.tracks.size(), -1);
    for (size_t i = 0; i < t_.lanes.size(); ++i) row[t_.lanes[i]] = static_cast<int64_t>(i);
    // The part of `task` that ends last (or starts first): where the path leaves it (or enters it).
    auto part_of = [&](uint32_t task, bool last) -> const Part* {
      const Part* best = nullptr;
      for (uint32_t i : t_.parts_of(t_.tasks[task])) {
        const Part& p = t_.parts[i];
        if (p.ran && row[p.track] >= 0 && (!best || (last ? p.end() > best->end() : p.start < best->start))) best = &p;
      }
      return best;
    };
    auto drawn = [&](const Part& p) { return x_of(p.end()) - x_of(p.start) >= 1; };
    std::string links;
    for (size_t i = 1; i < path_->steps.size(); ++i) {
      const Part* from = part_of(path_->steps[i - 1].task, true);
      const Part* to = part_of(path_->steps[i].task, false);
      if (!from || !to || from->track == to->track || !drawn(*from) || !drawn(*to)) continue;
      const double mid = kLaneHeight / 2;
      links += "<line x1=\"" + num(x_of(from->end())) + "\" y1=\"" +
               num(lane_top(static_cast<size_t>(row[from->track])) + mid) + "\" x2=\"" + num(x_of(to->start)) +
               "\" y2=\"" + num(lane_top(static_cast<size_t>(row[to->track])) + mid) + "\"/>\n";
    }
    if (links.empty()) return;
    s_ += std::string("<g class=\"critical-links\" stroke=\"") + kCriticalColour +
          "\" stroke-width=\"1.5\" pointer-events=\"none\">\n" + links + "</g>\n";
  }

  // The legend from `top`: draws it when `draw`, returns its height either way.
  double legend(double top, bool draw) {
    struct Item {
      std::string name, swatch;
    };
    std::vector<Item> items;
    for (size_t i = 0; i < kernels_.size() && i < kMaxLegendNames; ++i)
      items.push_back({t_.names[kernels_[i]], std::string("fill=\"") + kPalette[colour_of_[kernels_[i]]] + "\""});
    if (kernels_.size() > kMaxLegendNames)
      items.push_back({"+" + std::to_string(kernels_.size() - kMaxLegendNames) + " more (colours repeat)", ""});
    items.push_back({"failed, poisoned or cancelled", std::string("fill=\"") + kFailedColour + "\""});
    items.push_back(
        {"critical path", std::string("fill=\"#ffffff\" stroke=\"") + kCriticalColour + "\" stroke-width=\"2.5\""});
    items.push_back({"tasks under a pixel wide (opacity: how busy)",
                     std::string("fill=\"") + kDensityColour + "\" fill-opacity=\"0.5\""});
    if (draw) {
      s_ += "<g class=\"legend\">\n";
      text(16, top + 10, "legend", "font-weight=\"bold\"");
    }
    double x = 80, y = top;
    for (const Item& item : items) {
      const std::string name = clip(item.name, kLabelChars + 16);
      const double w = 16 + kCharWidth * static_cast<double>(name.size()) + 18;
      if (x + w > width_ - kRightMargin && x > 80) {
        x = 80;
        y += 20;
      }
      if (draw) {
        s_ += "<g class=\"legend-item\">";
        if (!item.swatch.empty())
          s_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"12\" height=\"12\" " + item.swatch + "/>";
        s_ += "<text x=\"" + num(x + 16) + "\" y=\"" + num(y + 10) + "\">" + xml_escape(name) + "</text></g>\n";
      }
      x += w;
    }
    if (draw) s_ += "</g>\n";
    return y + 20 - top;
  }

  const Trace& t_;
  const std::optional<CriticalPath>& path_;
  const double width_;
  const double plot_width_;
  const double span_;
  const std::string title_;
  std::unordered_set<uint32_t> on_path_;
  std::vector<uint32_t> kernels_;               // the names of parts on lanes, sorted: the legend's order
  std::vector<size_t> colour_of_;               // palette index by name
  std::vector<std::vector<uint32_t>> not_run_;  // per track: its parts that never ran
  std::string s_;
};

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') ? ' ' : c;
    }
  }
  return out;
}

void write_svg(const Trace& trace, const std::optional<CriticalPath>& path, std::ostream& out,
               const SvgOptions& options) {
  out << SvgWriter(trace, path, options).write();
}

}  // namespace strata::trace_reader
