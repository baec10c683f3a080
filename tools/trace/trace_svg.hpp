// tools/trace/trace_svg.hpp — a strata trace as an SVG swimlane picture (`strata trace svg`).
//
// One lane per child track (<g class="lane" data-track="chip 0">, in Trace::lanes order), a box per task
// part coloured by task name with a legend, the critical path outlined (class "critical"), parts that did
// not end ok in red (class "failed"), child deaths and respawns as markers (class "mark"), and a time
// axis along the top. Every box has a <title> tooltip. Parts narrower than one pixel are not drawn one by
// one: per lane they add up into pixel columns drawn as density bands (class "density", opacity = how
// busy the column is), so the picture's size is bounded by its width and lane count, not by the number of
// tasks. The output is well-formed XML whatever the names in the trace.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "trace_analysis.hpp"
#include "trace_file.hpp"

namespace strata::trace_reader {

struct SvgOptions {
  int width = 1600;   // pixels (at least 600)
  std::string title;  // the heading; "" gives "strata trace: <the trace's path>"
};

/// Writes the picture of `trace` to `out`, outlining the tasks of `path` (if given).
void write_svg(const Trace& trace, const std::optional<CriticalPath>& path, std::ostream& out,
               const SvgOptions& options = {});

/// `text` with &, <, >, " and ' as XML entities and control characters (not allowed in XML) as blanks.
std::string xml_escape(std::string_view text);

}  // namespace strata::trace_reader
