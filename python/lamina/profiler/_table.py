"""The text table of key_averages().table(), laid out as PyTorch lays out its own (same columns,
widths, units and footer), so that output pasted from a PyTorch tutorial reads the same."""

from ._events import SORT_KEYS

_COLUMN_WIDTH = 12
_SPACING = 2
_TIME_UNITS = {"s": 1e6, "ms": 1e3, "us": 1.0}


def format_time(time_us, unit=None):
    if unit is not None:
        return f"{time_us / _TIME_UNITS[unit]:.3f}{unit}"
    if time_us >= 1e6:
        return f"{time_us / 1e6:.3f}s"
    if time_us >= 1e3:
        return f"{time_us / 1e3:.3f}ms"
    return f"{time_us:.3f}us"


def format_memory(nbytes):
    kb, mb, gb = 1024, 1024 * 1024, 1024 * 1024 * 1024
    if abs(nbytes) >= gb:
        return f"{nbytes / gb:.2f} Gb"
    if abs(nbytes) >= mb:
        return f"{nbytes / mb:.2f} Mb"
    if abs(nbytes) >= kb:
        return f"{nbytes / kb:.2f} Kb"
    return f"{nbytes} b"


def _share(time_us, total_us):
    return "0.00%" if total_us == 0 else f"{time_us * 100.0 / total_us:.2f}%"


def _sort_value(evt, sort_by):
    if sort_by not in SORT_KEYS:
        raise AttributeError(f"lamina.profiler: table(sort_by={sort_by!r}): not a column to sort by; "
                             f"expected one of {', '.join(SORT_KEYS)}")
    return getattr(evt, sort_by)


def build_table(events, sort_by=None, row_limit=100, max_name_column_width=55, max_shapes_column_width=80,
                header=None, profile_memory=False, with_shapes=False, top_level_events_only=False, time_unit=None):
    """The table of `events` (FunctionEvents or FunctionEventAvgs), sorted by `sort_by` descending,
    at most `row_limit` rows (all when row_limit <= 0)."""
    if time_unit is not None and time_unit not in _TIME_UNITS:
        raise ValueError(f"lamina.profiler: table(time_unit={time_unit!r}): expected one of 's', 'ms', 'us' or None")
    if len(events) == 0:
        return ""
    events = list(events)
    if sort_by is not None:
        events.sort(key=lambda evt: _sort_value(evt, sort_by), reverse=True)
    has_shapes = any(evt.input_shapes for evt in events)
    name_width = max(len(evt.key) for evt in events) + 4
    if max_name_column_width is not None:
        name_width = min(name_width, max_name_column_width)
    shapes_width = max(len(str(evt.input_shapes)) for evt in events) + 4
    if max_shapes_column_width is not None:
        shapes_width = min(shapes_width, max_shapes_column_width)

    headers = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if profile_memory:
        headers += ["CPU Mem", "Self CPU Mem"]
    headers.append("# of Calls")
    widths = [name_width] + [_COLUMN_WIDTH] * (len(headers) - 1)
    if has_shapes:
        headers.append("Input Shapes")
        widths.append(shapes_width)
    row_format = "".join("{: >" + str(w) + "}" + " " * _SPACING for w in widths)
    separator = "".join("-" * w + " " * _SPACING for w in widths)
    line_length = sum(w + _SPACING for w in widths) - _SPACING

    total_self = sum(evt.self_cpu_time_total for evt in events)
    lines = []
    if header is not None:
        lines += ["=" * line_length, header]
    if top_level_events_only:
        lines += ["=" * line_length, "This report only display top-level ops statistics"]
    lines += [separator, row_format.format(*headers), separator]
    shown = 0
    for evt in events:
        if row_limit is not None and 0 < row_limit <= shown:
            break
        if top_level_events_only and evt.cpu_parent is not None:
            continue
        shown += 1
        name = evt.key
        if max_name_column_width is not None and len(name) >= max_name_column_width - 3:
            name = name[: max_name_column_width - 3] + "..."
        row = [name, _share(evt.self_cpu_time_total, total_self), format_time(evt.self_cpu_time_total, time_unit),
               _share(evt.cpu_time_total, total_self), format_time(evt.cpu_time_total, time_unit),
               format_time(evt.cpu_time, time_unit)]
        if profile_memory:
            row += [format_memory(evt.cpu_memory_usage), format_memory(evt.self_cpu_memory_usage)]
        row.append(evt.count)
        if has_shapes:
            row.append(str(evt.input_shapes)[:shapes_width])
        lines.append(row_format.format(*row))
    lines.append(separator)
    lines.append(f"Self CPU time total: {format_time(total_self, time_unit)}")
    return "\n".join(lines) + "\n"
