"""Numba kernels of the backtest engine: the fill model, the simulation loop, trades, metrics.

All kernels are ``@njit(cache=True)`` pure functions over NumPy arrays and scalars; none
imports pandas. They are the reusable core: the paper-trading runner calls
:func:`execute_bar_nb` bar by bar, sweeps call :func:`simulate_nb` in metrics-only mode
inside ``prange`` and reduce the equity with :func:`metrics_nb`.

Conventions
-----------
* Arrays are ``(T, N)`` float64 (bars x symbols), C-contiguous; a bar row is ``(N,)``.
* ``weights[t, n]`` is the target fraction of equity in symbol ``n`` decided with data up
  to the close of bar ``t``; NaN means "no new decision" (keep the previous target).
* ``fill_at_open=True`` (the default ``fill="next_open"``): the decision of bar ``t`` is
  executed at the open of bar ``t + 1``; ``False`` (``fill="close"``): at the close of ``t``.
* An order is placed for a symbol only when its target changes, or on a periodic
  rebalance; an order whose price is NaN waits for the next bar with a price.
* Sizing (as vectorbt's ``size_type="targetpercent"`` with cash sharing): the equity of
  the bar is valued once at the fill prices before any order; ``target_units =
  w * equity / price``; the order is ``target_units - position`` (rounded down in size to
  ``granularity``). Orders of a bar run in ascending order of value, so sells fund buys.
* Costs: a buy fills at ``price * (1 + slippage)``, a sell at ``price * (1 - slippage)``;
  fees = ``fee_rate * size * fill_price + fixed_fee``. A buy never spends more than
  ``cash + (leverage - 1) * equity``; it is cut to what that affords (fees included).
  Targets whose gross ``sum(|w|)`` exceeds ``leverage`` are scaled down to it.
* Stops (fractions of the average entry fill price; trailing from the best price since
  entry): first checked at the open (a gap through the level fills at the open), then
  intrabar against low/high (fills at the level); if stop and target are both touched
  in one bar the stop wins. A stopped-out symbol stays flat until its target changes.

State of the fill model (plain arrays, passed in and updated in place)
---------------------------------------------------------------------
``cash`` (1,), ``pos`` (N,) units held (negative = short), ``entry_px`` (N,) average
entry fill price of the open position, ``extreme`` (N,) best price since entry (high
for longs, low for shorts), ``val_px`` (N,) last valid price (for valuation).
Orders go to ``orders`` (an ``order_dt`` record array) at ``n_orders[0]``; the counter
always advances and a record is written only while it fits, so a zero-length
``orders`` array records nothing (metrics-only mode) and an overflow is detectable.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from harness.engine.enums import order_dt, trade_dt  # noqa: F401  (documented record layouts)

REL_TOL = 1e-9
ABS_TOL = 1e-12

SIGNAL = 0
STOP_LOSS = 1
TAKE_PROFIT = 2
TRAILING_STOP = 3
END = 4


# --------------------------------------------------------------------------- helpers
@njit(cache=True)
def is_close_nb(a: float, b: float) -> bool:
    """``|a - b| <= max(1e-9 * max(|a|, |b|), 1e-12)`` (vectorbt's tolerance)."""
    if np.isnan(a) or np.isnan(b):
        return False
    if np.isinf(a) or np.isinf(b):
        return a == b
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@njit(cache=True)
def buy_nb(size, price, cash_limit, p):
    """Size and cost of a buy of ``size`` units at ``price`` (before slippage), spending at most ``cash_limit``.

    Returns ``(filled_size, fill_price, fees, cash_spent)``; ``filled_size`` 0.0 means the
    order was ignored or rejected. Mirrors vectorbt's ``buy_nb`` (no lock_cash): an order
    that costs more than ``cash_limit`` (fees included) is cut to what it affords.
    Pure scalar function: callers apply the result to their own state.
    """
    adj_price = price * (1.0 + p.slippage)
    if not np.isnan(p.granularity):
        size = size // p.granularity * p.granularity
    if cash_limit <= 0.0 or size <= 0.0 or is_close_nb(size, 0.0):
        return 0.0, adj_price, 0.0, 0.0
    req = size * adj_price
    fees = req * p.fee_rate + p.fixed_fee
    total = req + fees
    if total <= cash_limit or is_close_nb(total, cash_limit):
        final_size = size
    else:
        max_req = (cash_limit - p.fixed_fee) / (1.0 + p.fee_rate)
        if max_req <= 0.0:
            return 0.0, adj_price, 0.0, 0.0
        final_size = max_req / adj_price
        if not np.isnan(p.granularity):
            final_size = final_size // p.granularity * p.granularity
            req = final_size * adj_price
            fees = req * p.fee_rate + p.fixed_fee
            total = req + fees
        else:
            fees = cash_limit - max_req
            total = cash_limit
    if final_size <= 0.0 or is_close_nb(final_size, 0.0):
        return 0.0, adj_price, 0.0, 0.0
    return final_size, adj_price, fees, total


@njit(cache=True)
def sell_nb(size, price, p):
    """Proceeds of a sale (or short sale) of ``size`` units at ``price`` (before slippage).

    Returns ``(filled_size, fill_price, fees, cash_received)``; ``filled_size`` 0.0 when
    ignored, or rejected because fees exceed the proceeds.
    """
    adj_price = price * (1.0 - p.slippage)
    if not np.isnan(p.granularity):
        size = size // p.granularity * p.granularity
    if size <= 0.0 or is_close_nb(size, 0.0):
        return 0.0, adj_price, 0.0, 0.0
    acq = size * adj_price
    fees = acq * p.fee_rate + p.fixed_fee
    if acq - fees < 0.0:
        return 0.0, adj_price, 0.0, 0.0
    return size, adj_price, fees, acq - fees


@njit(cache=True)
def apply_fill_nb(pos, entry_px, extreme, signed_size, fill_price):
    """New ``(position, average entry price, extreme)`` of one symbol after a fill.

    Adding to a position averages the entry price; reducing keeps it; opening or flipping
    resets entry and extreme to the fill price; going flat sets both to NaN.
    """
    new = pos + signed_size
    if is_close_nb(new, 0.0):
        new = 0.0
    if new == 0.0:
        return 0.0, np.nan, np.nan
    if pos == 0.0 or (pos > 0.0) != (new > 0.0):
        return new, fill_price, fill_price
    if abs(new) > abs(pos):
        return new, (abs(pos) * entry_px + abs(signed_size) * fill_price) / abs(new), extreme
    return new, entry_px, extreme


@njit(cache=True, inline="always")
def trade_nb(n, t, signed_size, price, cash_limit, p, cash, pos, entry_px, extreme, orders, n_orders, reason):
    """Fill an order of ``signed_size`` units (> 0 buy, < 0 sell) of symbol ``n`` and update the state.

    Buys spend at most ``cash_limit``. Writes an ``order_dt`` record when it fits in
    ``orders`` and always advances ``n_orders[0]``. Returns the filled size (unsigned).
    """
    if signed_size > 0.0:
        size, fill_price, fees, cash_delta = buy_nb(signed_size, price, cash_limit, p)
        cash_delta = -cash_delta
        side = 0
        signed = size
    else:
        size, fill_price, fees, cash_delta = sell_nb(-signed_size, price, p)
        side = 1
        signed = -size
    if size == 0.0:
        return 0.0
    c = cash[0] + cash_delta
    if is_close_nb(c, 0.0):
        c = 0.0
    cash[0] = c
    pos[n], entry_px[n], extreme[n] = apply_fill_nb(pos[n], entry_px[n], extreme[n], signed, fill_price)
    k = n_orders[0]
    if k < orders.shape[0]:
        rec = orders[k]
        rec["id"] = k
        rec["col"] = n
        rec["idx"] = t
        rec["size"] = size
        rec["price"] = fill_price
        rec["fees"] = fees
        rec["side"] = side
        rec["reason"] = reason
    n_orders[0] = k + 1
    return size


@njit(cache=True)
def argsort_stable_nb(a):
    """``np.argsort(a, kind="mergesort")`` for a 1-D array without NaN: the indices that sort
    ``a`` ascending, equal values in their original order (so the same permutation).

    A plain bottom-up merge sort; Numba's own ``argsort`` compiles its generic merge sort
    for seconds on first use, this in a fraction of a second.
    """
    n = a.shape[0]
    idx = np.empty(n, np.int64)
    for i in range(n):
        idx[i] = i
    tmp = np.empty(n, np.int64)
    width = 1
    while width < n:
        lo = 0
        while lo < n - width:
            mid = lo + width
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                if a[idx[j]] < a[idx[i]]:  # strictly less: ties keep the left (earlier) index first
                    tmp[k] = idx[j]
                    j += 1
                else:
                    tmp[k] = idx[i]
                    i += 1
                k += 1
            while i < mid:
                tmp[k] = idx[i]
                i += 1
                k += 1
            while j < hi:
                tmp[k] = idx[j]
                j += 1
                k += 1
            for m in range(lo, hi):
                idx[m] = tmp[m]
            lo += 2 * width
        width *= 2
    return idx


@njit(cache=True)
def portfolio_value_nb(cash: float, pos: np.ndarray, val_px: np.ndarray) -> float:
    """``cash + sum(pos * val_px)`` over symbols with a position."""
    v = cash
    for n in range(pos.shape[0]):
        if pos[n] != 0.0:
            v += pos[n] * val_px[n]
    return v


@njit(cache=True)
def _stop_levels_nb(n, pos, entry_px, extreme, p):
    """(stop level, stop reason, target level) for the open position of symbol ``n``."""
    stop = np.nan
    reason = STOP_LOSS
    target = np.nan
    if pos[n] > 0.0:
        if not np.isnan(p.stop_loss):
            stop = entry_px[n] * (1.0 - p.stop_loss)
        if not np.isnan(p.trailing_stop):
            ts = extreme[n] * (1.0 - p.trailing_stop)
            if np.isnan(stop) or ts > stop:
                stop = ts
                reason = TRAILING_STOP
        if not np.isnan(p.take_profit):
            target = entry_px[n] * (1.0 + p.take_profit)
    elif pos[n] < 0.0:
        if not np.isnan(p.stop_loss):
            stop = entry_px[n] * (1.0 + p.stop_loss)
        if not np.isnan(p.trailing_stop):
            ts = extreme[n] * (1.0 + p.trailing_stop)
            if np.isnan(stop) or ts < stop:
                stop = ts
                reason = TRAILING_STOP
        if not np.isnan(p.take_profit):
            target = entry_px[n] * (1.0 - p.take_profit)
    return stop, reason, target


@njit(cache=True)
def _exit_nb(n, t, price, reason, p, cash, pos, entry_px, extreme, orders, n_orders):
    trade_nb(n, t, -pos[n], price, cash[0], p, cash, pos, entry_px, extreme, orders, n_orders, reason)


@njit(cache=True)
def _check_stops_nb(t, r, open_, high, low, at_open, p, cash, pos, entry_px, extreme, orders, n_orders):
    """Gap check at the open (``at_open``) or intrabar check against low/high."""
    for n in range(pos.shape[0]):
        if pos[n] == 0.0:
            continue
        stop, reason, target = _stop_levels_nb(n, pos, entry_px, extreme, p)
        if at_open:
            o = open_[r, n]
            if np.isnan(o):
                continue
            if pos[n] > 0.0:
                if not np.isnan(stop) and o <= stop:
                    _exit_nb(n, t, o, reason, p, cash, pos, entry_px, extreme, orders, n_orders)
                elif not np.isnan(target) and o >= target:
                    _exit_nb(n, t, o, TAKE_PROFIT, p, cash, pos, entry_px, extreme, orders, n_orders)
            else:
                if not np.isnan(stop) and o >= stop:
                    _exit_nb(n, t, o, reason, p, cash, pos, entry_px, extreme, orders, n_orders)
                elif not np.isnan(target) and o <= target:
                    _exit_nb(n, t, o, TAKE_PROFIT, p, cash, pos, entry_px, extreme, orders, n_orders)
        else:
            hi = high[r, n]
            lo = low[r, n]
            if np.isnan(hi) or np.isnan(lo):
                continue
            if pos[n] > 0.0:
                if not np.isnan(stop) and lo <= stop:
                    _exit_nb(n, t, stop, reason, p, cash, pos, entry_px, extreme, orders, n_orders)
                elif not np.isnan(target) and hi >= target:
                    _exit_nb(n, t, target, TAKE_PROFIT, p, cash, pos, entry_px, extreme, orders, n_orders)
                elif hi > extreme[n]:
                    extreme[n] = hi
            else:
                if not np.isnan(stop) and hi >= stop:
                    _exit_nb(n, t, stop, reason, p, cash, pos, entry_px, extreme, orders, n_orders)
                elif not np.isnan(target) and lo <= target:
                    _exit_nb(n, t, target, TAKE_PROFIT, p, cash, pos, entry_px, extreme, orders, n_orders)
                elif lo < extreme[n]:
                    extreme[n] = lo


@njit(cache=True)
def _has_stops_nb(p) -> bool:
    return not (np.isnan(p.stop_loss) and np.isnan(p.take_profit) and np.isnan(p.trailing_stop))


@njit(cache=True, inline="always")
def _place_orders_nb(t, r, price, target, place, p, cash, pos, entry_px, extreme, val_px, orders, n_orders):
    """Rebalance the symbols flagged in ``place`` towards ``target`` at ``price`` (one row)."""
    N = pos.shape[0]
    for n in range(N):
        if not np.isnan(price[r, n]):
            val_px[n] = price[r, n]
    equity = portfolio_value_nb(cash[0], pos, val_px)
    gross = 0.0
    for n in range(N):
        if not np.isnan(target[n]):
            gross += abs(target[n])
    scale = 1.0
    if gross > p.leverage:
        scale = p.leverage / gross
    n_place = 0
    for n in range(N):
        if place[n] and not np.isnan(price[r, n]):
            n_place += 1
    if n_place == 0:
        return
    if equity <= 0.0:
        for n in range(N):
            if place[n] and not np.isnan(price[r, n]):
                place[n] = False
        return
    if N == 1:
        if place[0] and not np.isnan(price[r, 0]):
            place[0] = False
            _order_to_target_nb(0, t, target[0] * scale, equity, price[r, 0], p, cash, pos, entry_px,
                                extreme, orders, n_orders)
        return
    values = np.full(N, np.inf)
    for n in range(N):
        if place[n] and not np.isnan(price[r, n]):
            values[n] = target[n] * scale * equity - pos[n] * price[r, n]
    seq = np.argsort(values, kind="mergesort")
    for k in range(n_place):
        n = seq[k]
        place[n] = False
        _order_to_target_nb(n, t, target[n] * scale, equity, price[r, n], p, cash, pos, entry_px,
                            extreme, orders, n_orders)


@njit(cache=True, inline="always")
def _order_to_target_nb(n, t, w, equity, price, p, cash, pos, entry_px, extreme, orders, n_orders):
    if is_close_nb(pos[n], 0.0):
        pos[n] = 0.0
    size = w * equity / price - pos[n]
    if size != 0.0:
        cash_limit = cash[0]
        if p.leverage > 1.0:
            cash_limit = cash[0] + (p.leverage - 1.0) * equity
        trade_nb(n, t, size, price, cash_limit, p, cash, pos, entry_px, extreme, orders, n_orders, SIGNAL)


@njit(cache=True)
def execute_bar_nb(t, open_, high, low, close, target, place, fill_at_open, p,
                   cash, pos, entry_px, extreme, val_px, orders, n_orders):
    """Process one bar for all symbols: stops, then target orders, then bookkeeping.

    Args:
        t: bar index written into the order records.
        open_, high, low, close: ``(N,)`` prices of this bar (NaN = no bar for a symbol).
        target: ``(N,)`` current target weights (fractions of equity, negative = short).
        place: ``(N,)`` bool, True where an order towards ``target`` is due; cleared for
            every symbol that had a price to trade at (left set to retry next bar).
        fill_at_open: True to fill target orders at ``open_`` (the decision came from the
            previous bar), False to fill at ``close``.
        p: :class:`harness.engine.enums.FillParams`.
        cash, pos, entry_px, extreme, val_px: the fill-model state (see module docstring),
            updated in place; ``val_px`` ends the bar at the close.
        orders, n_orders: ``order_dt`` output and its (1,) int64 counter.

    Order of events: stops gapped through at the open fill at the open; with
    ``fill_at_open`` the target orders fill next, then the intrabar stop check (so a
    position opened at this open can be stopped in this bar); otherwise the intrabar
    stop check comes first and the target orders fill at the close.
    """
    _bar_nb(t, 0, open_.reshape(1, -1), high.reshape(1, -1), low.reshape(1, -1), close.reshape(1, -1), target,
            place, fill_at_open, p, cash, pos, entry_px, extreme, val_px, orders, n_orders)


@njit(cache=True, inline="always")
def _bar_nb(t, r, open_, high, low, close, target, place, fill_at_open, p,
            cash, pos, entry_px, extreme, val_px, orders, n_orders):
    """:func:`execute_bar_nb` on row ``r`` of ``(T, N)`` price arrays (no row views)."""
    stops = _has_stops_nb(p)
    if stops:
        _check_stops_nb(t, r, open_, high, low, True, p, cash, pos, entry_px, extreme, orders, n_orders)
    if fill_at_open:
        _place_orders_nb(t, r, open_, target, place, p, cash, pos, entry_px, extreme, val_px, orders, n_orders)
        if stops:
            _check_stops_nb(t, r, open_, high, low, False, p, cash, pos, entry_px, extreme, orders, n_orders)
    else:
        if stops:
            _check_stops_nb(t, r, open_, high, low, False, p, cash, pos, entry_px, extreme, orders, n_orders)
        _place_orders_nb(t, r, close, target, place, p, cash, pos, entry_px, extreme, val_px, orders, n_orders)
    for n in range(close.shape[1]):
        if not np.isnan(close[r, n]):
            val_px[n] = close[r, n]


@njit(cache=True)
def check_weights_nb(w: np.ndarray, clip_negative: bool) -> int:
    """One pass over C-contiguous ``(T, N)`` weights: the flat (row-major) index of the first infinite
    value, or -1; when there is none and ``clip_negative``, negative weights (and -0.0)
    become 0.0 in place (NaN stays NaN)."""
    flat = w.reshape(-1)  # C-contiguous: a view
    bad = False
    for i in range(flat.shape[0]):  # no early exit, so the loop vectorises
        bad |= abs(flat[i]) == np.inf
    if bad:
        for i in range(flat.shape[0]):
            if abs(flat[i]) == np.inf:
                return i
    if clip_negative:
        for i in range(flat.shape[0]):
            if flat[i] <= 0.0:
                flat[i] = 0.0
    return -1


@njit(cache=True)
def order_capacity_nb(weights: np.ndarray, rebalance_every: int) -> int:
    """An upper bound on the number of orders ``simulate_nb`` can produce for ``weights``.

    Each target change or rebalance gives at most one signal order and one stop exit.
    """
    T, N = weights.shape
    count = 0
    for n in range(N):
        prev = 0.0
        for t in range(T):
            w = weights[t, n]
            if not np.isnan(w) and w != prev:
                count += 1
                prev = w
    if rebalance_every > 0:
        count += (T // rebalance_every + 1) * N
    return 2 * count + N


@njit(cache=True)
def simulate_nb(open_, high, low, close, weights, fill_at_open, rebalance_every, init_cash, p,
                equity_out, cash_out, pos_out, orders):
    """Run the whole backtest; returns the number of orders (may exceed ``len(orders)``).

    Args:
        open_, high, low, close, weights: ``(T, N)`` float64.
        fill_at_open: see :func:`execute_bar_nb`.
        rebalance_every: place orders for every symbol each ``k`` bars (0 = only on change).
        init_cash: starting cash.
        p: :class:`~harness.engine.enums.FillParams`.
        equity_out: ``(T,)`` per-bar equity at the close (written).
        cash_out: ``(T,)`` cash at the close, or a zero-length array to skip.
        pos_out: ``(T, N)`` units held at the close, or shape ``(0, N)`` to skip.
        orders: ``order_dt`` records (capacity from :func:`order_capacity_nb`), or a
            zero-length array for the metrics-only mode.

    In metrics-only mode (``cash_out``, ``pos_out``, ``orders`` all empty) the kernel
    allocates only ``O(N)`` state, so a fused sweep can call it inside ``prange`` with a
    per-combination equity scratch row.
    """
    T, N = close.shape
    cash = np.full(1, init_cash)
    n_orders = np.zeros(1, np.int64)
    pos = np.zeros(N)
    entry_px = np.full(N, np.nan)
    extreme = np.full(N, np.nan)
    val_px = np.full(N, np.nan)
    target = np.zeros(N)
    place = np.zeros(N, np.bool_)
    keep_cash = cash_out.shape[0] > 0
    keep_pos = pos_out.shape[0] > 0
    stops = _has_stops_nb(p)
    if N == 1:
        _simulate_1_nb(open_, high, low, close, weights, fill_at_open, rebalance_every, p, equity_out, cash_out,
                       pos_out, orders, cash, n_orders, pos, entry_px, extreme, val_px, target, place, stops)
        return n_orders[0]
    for t in range(T):
        d = t - 1 if fill_at_open else t
        rebalance = d >= 0 and rebalance_every > 0 and d % rebalance_every == 0
        busy = False
        for n in range(N):
            if d >= 0:
                w = weights[d, n]
                if not np.isnan(w) and w != target[n]:
                    target[n] = w
                    place[n] = True
                elif rebalance:
                    place[n] = True
            if place[n] or (stops and pos[n] != 0.0):
                busy = True
        if busy:
            _bar_nb(t, t, open_, high, low, close, target, place, fill_at_open, p,
                    cash, pos, entry_px, extreme, val_px, orders, n_orders)
            v = cash[0]
            for n in range(N):
                if pos[n] != 0.0:
                    v += pos[n] * val_px[n]
        else:  # nothing to fill or check: only the valuation part of execute_bar_nb
            v = cash[0]
            for n in range(N):
                if fill_at_open and not np.isnan(open_[t, n]):
                    val_px[n] = open_[t, n]
                px = close[t, n]
                if not np.isnan(px):
                    val_px[n] = px
                if pos[n] != 0.0:
                    v += pos[n] * val_px[n]
        equity_out[t] = v
        if keep_cash:
            cash_out[t] = cash[0]
        if keep_pos:
            for n in range(N):
                pos_out[t, n] = pos[n]
    return n_orders[0]


@njit(cache=True)
def _simulate_1_nb(open_, high, low, close, weights, fill_at_open, rebalance_every, p, equity_out, cash_out,
                   pos_out, orders, cash, n_orders, pos, entry_px, extreme, val_px, target, place, stops):
    """``simulate_nb`` for one symbol: the same steps, with the state in registers.

    :func:`_quiet_run_1_nb` runs the bars with nothing to fill or check in a loop of its
    own (small, so its state stays in registers) and stops at the next bar that needs a
    fill step; this loop handles that bar and resumes. Cash and position do not change on
    quiet bars, so their outputs are filled here, after each quiet run. The fill step is
    :func:`_bar_nb` when stops are on, else its one-symbol form :func:`_signal_step_1_nb`
    (the loop of :func:`_simulate_signals_1_nb`). A C-contiguous ``(T, 1)`` input is read
    through 1-D views (unit-stride loads).
    """
    if not stops:
        _simulate_signals_1_nb(open_, close, weights, fill_at_open, rebalance_every, p, equity_out, cash_out,
                               pos_out, orders, cash, n_orders, pos, entry_px, extreme, val_px, target, place)
        return
    T = close.shape[0]
    keep_cash = cash_out.shape[0] > 0
    keep_pos = pos_out.shape[0] > 0
    o1 = _column0(open_)
    c1 = _column0(close)
    w1 = _column0(weights)
    tg = target[0]
    pl = place[0]
    ps = pos[0]
    vp = val_px[0]
    c = cash[0]
    t = np.int64(0)  # typed int64, not Literal[int](0): one compilation of the callees
    while t < T:
        t1, tg, pl, vp = _quiet_run_1_nb(t, o1, c1, w1, fill_at_open, rebalance_every, stops, tg, pl, ps, vp, c,
                                         equity_out)
        if keep_cash:
            cash_out[t:t1] = c
        if keep_pos:
            pos_out[t:t1, 0] = ps
        t = t1
        if t >= T:
            break
        target[0] = tg  # bar t has an order or a stop to check: the general step
        place[0] = pl
        pos[0] = ps
        val_px[0] = vp
        cash[0] = c
        _bar_nb(t, t, open_, high, low, close, target, place, fill_at_open, p,
                cash, pos, entry_px, extreme, val_px, orders, n_orders)
        pl = place[0]
        ps = pos[0]
        vp = val_px[0]
        c = cash[0]
        equity_out[t] = c + ps * vp if ps != 0.0 else c
        if keep_cash:
            cash_out[t] = c
        if keep_pos:
            pos_out[t, 0] = ps
        t += 1
    target[0] = tg
    place[0] = pl
    pos[0] = ps
    val_px[0] = vp
    cash[0] = c


@njit(cache=True)
def _simulate_signals_1_nb(open_, close, weights, fill_at_open, rebalance_every, p, equity_out, cash_out, pos_out,
                           orders, cash, n_orders, pos, entry_px, extreme, val_px, target, place):
    """The loop of :func:`_simulate_1_nb` without stops: quiet runs, and
    :func:`_signal_step_1_nb` on the bars with an order. Its own function, so that
    :func:`simulate_signals_1_nb` compiles it without the general step."""
    T = close.shape[0]
    keep_cash = cash_out.shape[0] > 0
    keep_pos = pos_out.shape[0] > 0
    stops = _has_stops_nb(p)  # False here; a runtime value, so the callee compiles once for both loops
    o1 = _column0(open_)
    c1 = _column0(close)
    w1 = _column0(weights)
    tg = target[0]
    pl = place[0]
    ps = pos[0]
    vp = val_px[0]
    c = cash[0]
    t = np.int64(0)  # typed int64, not Literal[int](0): one compilation of the callees
    while t < T:
        t1, tg, pl, vp = _quiet_run_1_nb(t, o1, c1, w1, fill_at_open, rebalance_every, stops, tg, pl, ps, vp, c,
                                         equity_out)
        if keep_cash:
            cash_out[t:t1] = c
        if keep_pos:
            pos_out[t:t1, 0] = ps
        t = t1
        if t >= T:
            break
        pl, ps, vp, c = _signal_step_1_nb(t, o1[t] if fill_at_open else c1[t], c1[t], tg, pl, ps, vp, c, p,
                                          cash, pos, entry_px, extreme, orders, n_orders)
        equity_out[t] = c + ps * vp if ps != 0.0 else c
        if keep_cash:
            cash_out[t] = c
        if keep_pos:
            pos_out[t, 0] = ps
        t += 1
    target[0] = tg
    place[0] = pl
    pos[0] = ps
    val_px[0] = vp
    cash[0] = c


@njit(cache=True)
def simulate_signals_1_nb(open_, high, low, close, weights, fill_at_open, rebalance_every, init_cash, p,
                          equity_out, cash_out, pos_out, orders):
    """:func:`simulate_nb` for one symbol without stops (``p`` has no stop loss, take profit
    or trailing stop): the same arguments, the same code path and results, bit for bit,
    as ``simulate_nb`` takes for such a run, but it compiles without the general
    N-symbol step and the stop checks, in a fraction of the time. Raises ``ValueError``
    for more than one symbol or with stops. :func:`simulate_kernel` picks between the two.
    """
    N = close.shape[1]
    if N != 1 or _has_stops_nb(p):
        raise ValueError("simulate_signals_1_nb: one symbol without stops only; use simulate_nb")
    cash = np.full(1, init_cash)
    n_orders = np.zeros(1, np.int64)
    pos = np.zeros(1)
    entry_px = np.full(1, np.nan)
    extreme = np.full(1, np.nan)
    val_px = np.full(1, np.nan)
    target = np.zeros(1)
    place = np.zeros(1, np.bool_)
    _simulate_signals_1_nb(open_, close, weights, fill_at_open, rebalance_every, p, equity_out, cash_out, pos_out,
                           orders, cash, n_orders, pos, entry_px, extreme, val_px, target, place)
    return n_orders[0]


def simulate_kernel(n_symbols: int, p):
    """The simulation kernel for ``n_symbols`` and the fill params ``p`` (a Python helper):
    :func:`simulate_signals_1_nb` for one symbol without stops, else :func:`simulate_nb`.
    Both take the same arguments and give the same results; the first compiles much faster."""
    stops = not (np.isnan(p.stop_loss) and np.isnan(p.take_profit) and np.isnan(p.trailing_stop))
    return simulate_signals_1_nb if n_symbols == 1 and not stops else simulate_nb


@njit(cache=True, inline="always")
def _signal_step_1_nb(t, price, close, tg, pl, ps, vp, c, p, cash, pos, entry_px, extreme, orders, n_orders):
    """:func:`_bar_nb` for one symbol without stops, on scalars: the order towards ``tg``
    (if due, ``pl``) at ``price``, then the valuation at ``close``; the same operations in
    the same order, so the results are bit-identical (tested against :func:`execute_bar_nb`).

    Returns the new ``(place, position, val_px, cash)``.
    """
    if not np.isnan(price):
        vp = price
        if pl:
            pl = False
            equity = c + ps * vp if ps != 0.0 else c
            if not equity <= 0.0:
                scale = 1.0
                if abs(tg) > p.leverage:
                    scale = p.leverage / abs(tg)
                pos[0] = ps
                cash[0] = c
                _order_to_target_nb(0, t, tg * scale, equity, price, p, cash, pos, entry_px, extreme, orders,
                                    n_orders)
                ps = pos[0]
                c = cash[0]
    if not np.isnan(close):
        vp = close
    return pl, ps, vp, c


@njit(cache=True)
def _quiet_run_1_nb(t0, open_, close, weights, fill_at_open, rebalance_every, stops, tg, pl, ps, vp, c,
                    equity_out):
    """From bar ``t0`` (``open_``, ``close``, ``weights`` and ``equity_out`` are one symbol's
    ``(T,)`` columns): take each bar's decision and, while nothing is to fill or check,
    value the bar (the valuation part of :func:`execute_bar_nb`) and write its equity.

    Returns ``(t, target, place, val_px)`` with ``t`` the first bar that needs the
    general step (its decision already taken, its outputs not written), or ``T``.
    """
    T = close.shape[0]
    always = stops and ps != 0.0  # an open position under stops is checked every bar
    t = max(t0, 0)
    while t < T:
        u = np.uint64(t)  # an unsigned index: no negative-index wraparound in the loop
        d = t - 1 if fill_at_open else t
        if d >= 0:
            w = weights[np.uint64(d)]
            if not np.isnan(w) and w != tg:
                tg = w
                pl = True
            elif rebalance_every > 0 and d % rebalance_every == 0:
                pl = True
        if pl or always:
            return t, tg, pl, vp
        if fill_at_open:
            o = open_[u]
            if not np.isnan(o):
                vp = o
        px = close[u]
        if not np.isnan(px):
            vp = px
        equity_out[u] = c + ps * vp if ps != 0.0 else c
        t += 1
    return T, tg, pl, vp


def _column0(a):
    """The first column of a ``(T, N)`` array as a ``(T,)`` view (jitted through the overload below)."""
    return a[:, 0]


@overload(_column0)
def _column0_ol(a):
    """A C-contiguous ``(T, 1)`` array becomes a contiguous 1-D view (unit-stride loads in the
    quiet loop); any other layout a strided view. Chosen when the caller is compiled."""
    if isinstance(a, types.Array) and a.layout == "C":
        return lambda a: a.reshape(a.shape[0])
    return lambda a: a[:, 0]


# --------------------------------------------------------------------------- trades
@njit(cache=True)
def trades_from_orders_nb(orders, n_symbols, last_price, last_idx):
    """Aggregate fills into round-trip trades (``trade_dt``), in order of entry per symbol.

    A trade opens when a symbol goes from flat to a position and closes when it is flat
    again; an order that flips the position closes one trade and opens the next (its fee
    split in proportion). A position still open after the last order is valued at
    ``last_price[col]`` at ``last_idx`` with status open and exit reason ``END``.
    """
    n = orders.shape[0]
    out = np.empty(n + n_symbols, dtype=trade_dt)
    # np.int64 rather than literals in the calls below: _close_trade_nb compiles once, not once per
    # distinct constant (Numba types a literal argument as its own Literal type)
    k = np.int64(0)
    closed_status = np.int64(1)
    open_status = np.int64(0)
    end_reason = np.int64(END)
    last = np.int64(last_idx)
    in_pos = np.zeros(n_symbols, np.bool_)
    direction = np.zeros(n_symbols, np.int64)
    entry_idx = np.zeros(n_symbols, np.int64)
    e_size = np.zeros(n_symbols)
    e_gross = np.zeros(n_symbols)
    e_fees = np.zeros(n_symbols)
    x_size = np.zeros(n_symbols)
    x_gross = np.zeros(n_symbols)
    x_fees = np.zeros(n_symbols)
    cur = np.zeros(n_symbols)
    for i in range(n):
        c = orders[i]["col"]
        size = orders[i]["size"]
        price = orders[i]["price"]
        fees = orders[i]["fees"]
        side = orders[i]["side"]
        idx = orders[i]["idx"]
        if not in_pos[c]:
            in_pos[c] = True
            direction[c] = 0 if side == 0 else 1
            entry_idx[c] = idx
            e_size[c] = 0.0
            e_gross[c] = 0.0
            e_fees[c] = 0.0
            x_size[c] = 0.0
            x_gross[c] = 0.0
            x_fees[c] = 0.0
            cur[c] = 0.0
        increasing = (direction[c] == 0 and side == 0) or (direction[c] == 1 and side == 1)
        if increasing:
            e_size[c] += size
            e_gross[c] += size * price
            e_fees[c] += fees
            cur[c] += size
            continue
        if size < cur[c] or is_close_nb(size, cur[c]):
            x_size[c] += size
            x_gross[c] += size * price
            x_fees[c] += fees
            cur[c] -= size
            if is_close_nb(cur[c], 0.0) or cur[c] <= 0.0:
                _close_trade_nb(out, k, c, direction[c], entry_idx[c], idx, e_size[c], e_gross[c],
                                e_fees[c], x_size[c], x_gross[c], x_fees[c], closed_status, orders[i]["reason"])
                k += 1
                in_pos[c] = False
        else:  # flip: close the current trade with part of the order, open the next
            closed = cur[c]
            frac = closed / size
            _close_trade_nb(out, k, c, direction[c], entry_idx[c], idx, e_size[c], e_gross[c], e_fees[c],
                            x_size[c] + closed, x_gross[c] + closed * price, x_fees[c] + fees * frac,
                            closed_status, orders[i]["reason"])
            k += 1
            rest = size - closed
            direction[c] = 1 - direction[c]
            entry_idx[c] = idx
            e_size[c] = rest
            e_gross[c] = rest * price
            e_fees[c] = fees * (1.0 - frac)
            x_size[c] = 0.0
            x_gross[c] = 0.0
            x_fees[c] = 0.0
            cur[c] = rest
    for c in range(n_symbols):
        if in_pos[c]:
            _close_trade_nb(out, k, c, direction[c], entry_idx[c], last, e_size[c], e_gross[c], e_fees[c],
                            x_size[c] + cur[c], x_gross[c] + cur[c] * last_price[c], x_fees[c], open_status,
                            end_reason)
            k += 1
    return out[:k]


@njit(cache=True)
def _close_trade_nb(out, k, c, direction, entry_idx, exit_idx, e_size, e_gross, e_fees,
                    x_size, x_gross, x_fees, status, reason):
    sign = 1.0 if direction == 0 else -1.0
    pnl = sign * (x_gross - e_gross) - e_fees - x_fees
    out[k]["id"] = k
    out[k]["col"] = c
    out[k]["size"] = e_size
    out[k]["entry_idx"] = entry_idx
    out[k]["entry_price"] = e_gross / e_size
    out[k]["entry_fees"] = e_fees
    out[k]["exit_idx"] = exit_idx
    out[k]["exit_price"] = x_gross / x_size if x_size > 0.0 else np.nan
    out[k]["exit_fees"] = x_fees
    out[k]["pnl"] = pnl
    out[k]["return"] = pnl / e_gross
    out[k]["direction"] = direction
    out[k]["status"] = status
    out[k]["exit_reason"] = reason


# --------------------------------------------------------------------------- metrics
@njit(cache=True)
def exposure_bars_nb(entry_idx: np.ndarray, exit_idx: np.ndarray) -> int:
    """Number of bars covered by the union of the intervals ``[entry_idx, exit_idx)``.

    With trades' entry/exit bars this is the number of bars at whose close any position
    was held (pass ``T`` as the exit of open trades).
    """
    k = entry_idx.shape[0]
    if k == 0:
        return 0
    ascending = True  # the usual case (one symbol's trades): no sort needed
    for i in range(1, k):
        if entry_idx[i] < entry_idx[i - 1]:
            ascending = False
            break
    if ascending:
        return exposure_bars_sorted_nb(entry_idx, exit_idx)
    order = argsort_stable_nb(entry_idx)
    return exposure_bars_sorted_nb(entry_idx[order], exit_idx[order])


@njit(cache=True)
def exposure_bars_sorted_nb(entry_idx: np.ndarray, exit_idx: np.ndarray) -> int:
    """:func:`exposure_bars_nb` for intervals already in ascending order of ``entry_idx``
    (``BacktestResult.stats`` sorts with NumPy when they are not, so that this small kernel
    is all a first backtest compiles)."""
    k = entry_idx.shape[0]
    if k == 0:
        return 0
    total = 0
    cur_a = entry_idx[0]
    cur_b = exit_idx[0]
    for i in range(1, k):
        a = entry_idx[i]
        b = exit_idx[i]
        if a > cur_b:
            total += cur_b - cur_a
            cur_a = a
            cur_b = b
        elif b > cur_b:
            cur_b = b
    return total + (cur_b - cur_a)


@njit(cache=True)
def returns_nb(equity: np.ndarray, init_cash: float) -> np.ndarray:
    """Simple returns per bar; the first is relative to ``init_cash``."""
    T = equity.shape[0]
    out = np.empty(T)
    prev = init_cash
    for t in range(T):
        out[t] = equity[t] / prev - 1.0 if prev != 0.0 else np.nan
        prev = equity[t]
    return out


@njit(cache=True)
def total_return_nb(equity: np.ndarray, init_cash: float) -> float:
    """``equity[-1] / init_cash - 1`` (0 for an empty series)."""
    if equity.shape[0] == 0:
        return 0.0
    return equity[-1] / init_cash - 1.0


@njit(cache=True)
def cagr_nb(equity: np.ndarray, init_cash: float, periods_per_year: float) -> float:
    """Compound annual growth rate: ``(equity[-1]/init_cash) ** (ppy / T) - 1``."""
    T = equity.shape[0]
    if T == 0:
        return np.nan
    g = equity[-1] / init_cash
    if g <= 0.0:
        return -1.0
    return g ** (periods_per_year / T) - 1.0


@njit(cache=True)
def _mean_std_nb(r: np.ndarray):
    n = 0
    s = 0.0
    for x in r:
        if not np.isnan(x):
            n += 1
            s += x
    if n < 2:
        return (s / n if n else np.nan), np.nan
    m = s / n
    ss = 0.0
    for x in r:
        if not np.isnan(x):
            ss += (x - m) * (x - m)
    return m, np.sqrt(ss / (n - 1))


@njit(cache=True)
def ann_volatility_nb(returns: np.ndarray, periods_per_year: float) -> float:
    """Sample standard deviation (ddof=1) of returns times ``sqrt(ppy)``."""
    return _mean_std_nb(returns)[1] * np.sqrt(periods_per_year)


@njit(cache=True)
def sharpe_nb(returns: np.ndarray, periods_per_year: float) -> float:
    """``mean / std(ddof=1) * sqrt(ppy)`` (risk-free rate 0); NaN when std is 0."""
    m, s = _mean_std_nb(returns)
    if not s > 0.0:
        return np.nan
    return m / s * np.sqrt(periods_per_year)


@njit(cache=True)
def sortino_nb(returns: np.ndarray, periods_per_year: float) -> float:
    """``mean / sqrt(mean(min(r, 0)^2)) * sqrt(ppy)``; inf when there is no downside."""
    n = 0
    s = 0.0
    d = 0.0
    for x in returns:
        if not np.isnan(x):
            n += 1
            s += x
            if x < 0.0:
                d += x * x
    if n == 0:
        return np.nan
    dd = np.sqrt(d / n)
    if dd == 0.0:
        return np.inf if s > 0.0 else np.nan
    return s / n / dd * np.sqrt(periods_per_year)


@njit(cache=True)
def max_drawdown_nb(equity: np.ndarray, init_cash: float):
    """(max drawdown as a negative fraction, longest time under water in bars).

    The running peak starts at ``init_cash``; the duration counts bars from a peak until
    equity first gets back to it (or to the end when it never does).
    """
    peak = init_cash
    mdd = 0.0
    dur = 0
    cur = 0
    for t in range(equity.shape[0]):
        e = equity[t]
        if e >= peak:
            peak = e
            cur = 0
        else:
            cur += 1
            if peak > 0.0:
                dd = e / peak - 1.0
                if dd < mdd:
                    mdd = dd
        if cur > dur:
            dur = cur
    return mdd, dur


@njit(cache=True)
def calmar_nb(equity: np.ndarray, init_cash: float, periods_per_year: float) -> float:
    """CAGR divided by the absolute max drawdown (NaN without a drawdown)."""
    mdd = max_drawdown_nb(equity, init_cash)[0]
    if mdd == 0.0:
        return np.nan
    return cagr_nb(equity, init_cash, periods_per_year) / abs(mdd)


@njit(cache=True)
def metrics_nb(equity: np.ndarray, init_cash: float, periods_per_year: float, out: np.ndarray) -> None:
    """Write the metrics of ``enums.METRIC_NAMES`` (8 values) for one equity curve into ``out``.

    Same definitions (and floating-point steps) as the single-metric kernels above, fused
    into two passes with no allocation (so sweeps can call it per combination inside ``prange``).
    """
    T = equity.shape[0]
    out[0] = total_return_nb(equity, init_cash)
    out[1] = cagr_nb(equity, init_cash, periods_per_year)
    n = 0
    s = 0.0
    d = 0.0
    prev = init_cash
    # drawdown state, fused into this pass: the steps of max_drawdown_nb, except that the
    # division is skipped unless equity is below its lowest value since the current peak
    # (e / peak - 1 is monotone in e, also after rounding, so a higher e cannot beat mdd)
    peak = init_cash
    low = np.inf
    mdd = 0.0
    dur = 0
    cur = 0
    for t in range(T):
        e = equity[t]
        r = e / prev - 1.0 if prev != 0.0 else np.nan
        prev = e
        if not np.isnan(r):
            n += 1
            s += r
            q = min(r, 0.0)  # branch-free downside (adding +0.0 leaves d as it was)
            d += q * q
        if e >= peak:
            peak = e
            low = np.inf
            cur = 0
        else:
            cur += 1
            if e < low and peak > 0.0:
                low = e
                dd = e / peak - 1.0
                if dd < mdd:
                    mdd = dd
        if cur > dur:
            dur = cur
    m = s / n if n else np.nan
    ss = 0.0
    prev = init_cash
    for t in range(T):
        r = equity[t] / prev - 1.0 if prev != 0.0 else np.nan
        prev = equity[t]
        if not np.isnan(r):
            ss += (r - m) * (r - m)
    sd = np.sqrt(ss / (n - 1)) if n > 1 else np.nan
    root = np.sqrt(periods_per_year)
    out[2] = sd * root
    out[3] = m / sd * root if sd > 0.0 else np.nan
    dd = np.sqrt(d / n) if n else np.nan
    if n == 0:
        out[4] = np.nan
    elif dd == 0.0:
        out[4] = np.inf if s > 0.0 else np.nan
    else:
        out[4] = m / dd * root
    out[5] = out[1] / abs(mdd) if mdd != 0.0 else np.nan
    out[6] = mdd
    out[7] = dur
