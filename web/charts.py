"""The dashboard's plotly figures, built from the tables in ``web.data``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import networkx as nx
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from govsim.rerest.results import METHOD_ORDER

COLLAPSE, BAND, STOCK, AFTER = "#d62728", "rgba(44,160,44,0.18)", "#1f77b4", "#ff7f0e"
# the Re-ReST methods' lines, in the summary's order: base, self_training, rerest, dpo
METHOD_COLORS = dict(zip(METHOD_ORDER, ("#7f7f7f", "#ff7f0e", "#2ca02c", "#9467bd"), strict=True))


def _style(fig: go.Figure, height: int = 360) -> go.Figure:
    """Shared look; titles are the page's own headings, so figures carry none."""
    fig.update_layout(
        template="plotly_white", height=height, margin=dict(l=10, r=10, t=20, b=10), legend_title_text="",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0), hovermode="x unified",
    )
    return fig


def stock_figure(months: pd.DataFrame, collapse_below: float, capacity: float | None = None) -> go.Figure:
    """Stock at each month's start and after its harvest, the sustainable band, the collapse line.

    The band of a month spans [stock - sustainable_total, stock]: a harvest that leaves the
    stock inside it lets regrowth restore the stock.
    """
    fig = go.Figure()
    band = months.dropna(subset=["stock"])
    fig.add_bar(
        x=band["month"], y=band["sustainable_total"], base=band["stock"] - band["sustainable_total"],
        marker_color=BAND, width=0.6, name="sustainable after harvest",
        hovertemplate="sustainable down to %{base}<extra></extra>",
    )
    fig.add_scatter(x=months["month"], y=months["stock"], mode="lines+markers", name="stock at month start",
                    line=dict(color=STOCK, width=3))
    fig.add_scatter(x=months["month"], y=months["stock_after_harvest"], mode="markers", name="after harvest",
                    marker=dict(color=AFTER, size=10, symbol="diamond"))
    fig.add_hline(y=collapse_below, line_dash="dash", line_color=COLLAPSE,
                  annotation_text=f"collapse below {collapse_below:g}", annotation_position="top right")
    top = max([capacity or 0, *pd.to_numeric(months["stock"], errors="coerce").dropna().tolist(), collapse_below])
    fig.update_yaxes(title="stock", range=[0, top * 1.08])
    fig.update_xaxes(title="month", dtick=1)
    return _style(fig, 380)


def harvest_figure(harvests: pd.DataFrame) -> go.Figure:
    """Wanted vs caught per month, one panel per agent."""
    long = harvests.melt(id_vars=["month", "agent"], value_vars=["wanted", "caught"], var_name="series", value_name="amount")
    agents = list(dict.fromkeys(harvests["agent"]))
    wrap = min(5, max(1, len(agents)))
    fig = px.bar(long, x="month", y="amount", color="series", barmode="group", facet_col="agent", facet_col_wrap=wrap,
                 category_orders={"agent": agents}, color_discrete_map={"wanted": "#9ecae1", "caught": STOCK})
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_xaxes(dtick=1, title=None)
    rows = math.ceil(len(agents) / wrap)
    _style(fig, 260 + 200 * rows)
    fig.update_layout(margin_t=60, legend_y=1.08)  # keep the legend clear of the agents' names
    return fig


def limits_figure(months: pd.DataFrame) -> go.Figure:
    """The limit each summary recorded (gaps: no limit agreed) against f(h)."""
    fig = go.Figure()
    fig.add_scatter(x=months["month"], y=months["agreed_limit"], mode="lines+markers", name="agreed limit",
                    line=dict(color=STOCK, width=3), connectgaps=False)
    fig.add_scatter(x=months["month"], y=months["threshold"], mode="lines", name="f(h) per agent",
                    line=dict(color="#2ca02c", dash="dot"))
    fig.update_xaxes(title="month", dtick=1)
    fig.update_yaxes(title="per person", rangemode="tozero")
    return _style(fig, 320)


def totals_figure(harvests: pd.DataFrame) -> go.Figure:
    totals = harvests.groupby("agent", sort=False)["caught"].sum().reset_index()
    fig = px.bar(totals, x="agent", y="caught", text="caught", color_discrete_sequence=[STOCK])
    return _style(fig, 320)


def km_figure(curves: pd.DataFrame, sizes: dict[str, int] | None = None) -> go.Figure:
    """Kaplan–Meier steps per group (``govsim.report.km_curves``) with their 95 % bands."""
    fig = go.Figure()
    palette = px.colors.qualitative.Plotly
    for i, (label, curve) in enumerate(curves.groupby("group", sort=True)):
        color = palette[i % len(palette)]
        name = f"{label} (n={sizes[label]})" if sizes and label in sizes else str(label)
        fig.add_scatter(x=curve["month"], y=curve["ci_high"], mode="lines", line=dict(width=0, shape="hv", color=color),
                        showlegend=False, hoverinfo="skip", legendgroup=name)
        fig.add_scatter(x=curve["month"], y=curve["ci_low"], mode="lines", fill="tonexty", opacity=0.2,
                        line=dict(width=0, shape="hv", color=color), showlegend=False, hoverinfo="skip", legendgroup=name)
        fig.add_scatter(x=curve["month"], y=curve["survival"], mode="lines", name=name, legendgroup=name,
                        line=dict(shape="hv", width=3, color=color))
    fig.update_xaxes(title="month", dtick=1)
    fig.update_yaxes(title="share of runs not collapsed", range=[0, 1.05])
    return _style(fig, 380)


def distribution_figure(frame: pd.DataFrame, metric: str, group: str = "group") -> go.Figure:
    """Box and every run's value per group, groups as rows so long labels stay readable."""
    fig = px.box(frame, y=group, x=metric, points="all", color=group, orientation="h")
    fig.update_traces(pointpos=0, jitter=0.4)
    fig.update_yaxes(title=None)
    _style(fig, 140 + 60 * frame[group].nunique())
    fig.update_layout(showlegend=False, hovermode="closest")
    return fig


def rerest_figure(frame: pd.DataFrame, metric: str) -> go.Figure:
    """One metric over Re-ReST iterations, a line per method, CI as error bars when given.

    A method with a single row (the base model, iteration 0) is also drawn as a dotted
    level across the iterations, the bar the trained adapters have to clear.
    """
    ci = f"{metric}_ci" if f"{metric}_ci" in frame.columns and frame[f"{metric}_ci"].notna().any() else None
    fig = px.line(frame, x="iteration", y=metric, color="method", markers=True, error_y=ci,
                  color_discrete_map=METHOD_COLORS, category_orders={"method": list(METHOD_ORDER)})
    for method, rows in frame.dropna(subset=[metric]).groupby("method"):
        if len(rows) == 1:
            fig.add_hline(y=float(rows[metric].iloc[0]), line_dash="dot", line_color="#888888",
                          annotation_text=str(method), annotation_position="bottom right")
    fig.update_xaxes(dtick=1)
    return _style(fig, 300)


def network_figure(graph: nx.DiGraph, allowed: Iterable[tuple[str, str]] | None = None) -> go.Figure:
    """The conversation graph on a circle: arrows speaker -> named next speaker, width by count.

    Node size grows with utterances; the hover tells proposals and agreements. ``allowed``
    (the run's communication network, if not complete) is drawn as faint lines.
    """
    nodes = list(graph.nodes)
    pos = nx.circular_layout(nodes) if nodes else {}
    fig = go.Figure()
    for a, b in allowed or []:
        if a in pos and b in pos:
            fig.add_scatter(x=[pos[a][0], pos[b][0]], y=[pos[a][1], pos[b][1]], mode="lines", hoverinfo="skip",
                            line=dict(color="#dddddd", width=6), showlegend=False)
    top = max((d.get("weight", 1) for _, _, d in graph.edges(data=True)), default=1)
    mid_x, mid_y, mid_text = [], [], []
    for a, b, data in graph.edges(data=True):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        # Shift each arrow sideways so a->b and b->a stay apart, and stop short of the nodes.
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy) or 1.0
        ox, oy = -dy / length * 0.04, dx / length * 0.04
        sx, sy = x0 + dx * 0.12 + ox, y0 + dy * 0.12 + oy
        ex, ey = x1 - dx * 0.12 + ox, y1 - dy * 0.12 + oy
        weight = data.get("weight", 1)
        fig.add_annotation(x=ex, y=ey, ax=sx, ay=sy, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=3, arrowsize=1, arrowwidth=1 + 5 * weight / top, arrowcolor="rgba(31,119,180,0.6)")
        mid_x.append((sx + ex) / 2)
        mid_y.append((sy + ey) / 2)
        mid_text.append(f"{a} → {b}: {weight}×")
    fig.add_scatter(x=mid_x, y=mid_y, mode="markers", marker=dict(size=14, opacity=0), hovertext=mid_text,
                    hoverinfo="text", showlegend=False)
    attrs = [graph.nodes[n] for n in nodes]
    most = max((a.get("utterances", 0) for a in attrs), default=0) or 1
    fig.add_scatter(
        x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers+text", text=nodes,
        textposition="top center", textfont=dict(size=15), showlegend=False,
        marker=dict(size=[22 + 30 * a.get("utterances", 0) / most for a in attrs],
                    color=["#2ca02c" if a.get("agreements") else "#1f77b4" for a in attrs],
                    line=dict(width=2, color="white")),
        hovertext=[
            f"{n}: {a.get('utterances', 0)} utterances, proposed {a.get('proposed', 0)}×, backed the agreed limit "
            f"in {a.get('agreements', 0)} month(s)" for n, a in zip(nodes, attrs)
        ],
        hoverinfo="text",
    )
    fig.update_xaxes(visible=False, range=[-1.35, 1.35])
    fig.update_yaxes(visible=False, range=[-1.3, 1.35], scaleanchor="x")
    fig.update_layout(hovermode="closest")
    return _style(fig, 520)


def band_figure(bands: pd.DataFrame, series: str, title: str) -> go.Figure:
    """One series per month across runs (``web.groups.bands``): each group's mean as a line,
    its 95 % interval as a band (none for a group of one run)."""
    fig = go.Figure()
    palette = px.colors.qualitative.Plotly
    for i, (label, rows) in enumerate(bands.groupby("group", sort=True)):
        color = palette[i % len(palette)]
        runs = int(rows["runs"].max())
        name = f"{label} (n={runs})"
        if rows[f"{series}_low"].notna().any():
            fig.add_scatter(x=rows["month"], y=rows[f"{series}_high"], mode="lines", line=dict(width=0, color=color),
                            showlegend=False, hoverinfo="skip", legendgroup=name)
            fig.add_scatter(x=rows["month"], y=rows[f"{series}_low"], mode="lines", fill="tonexty", opacity=0.2,
                            line=dict(width=0, color=color), showlegend=False, hoverinfo="skip", legendgroup=name)
        fig.add_scatter(x=rows["month"], y=rows[f"{series}_mean"], mode="lines+markers", name=name, legendgroup=name,
                        line=dict(width=3, color=color), customdata=rows[["runs"]],
                        hovertemplate="%{y:.1f} (mean of %{customdata[0]} runs)<extra>" + str(label) + "</extra>")
    fig.update_xaxes(title="month", dtick=1)
    fig.update_yaxes(title=title, rangemode="tozero")
    return _style(fig, 360)
