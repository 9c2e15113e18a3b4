#!/usr/bin/env python3
"""Independent reference for the Go HAMA engine, written from the Pine v5 definitions.

It is deliberately naive (every moving average recomputed from its window, no rolling sums) so that
it shares no shortcut with the Go code. It generates a deterministic synthetic series of candles
(a linear congruential generator drives a random walk), computes the HAMA outputs at the last bar,
and writes both to reference_hama.json, which hama_reference_test.go compares against.

    python3 internal/hama/testdata/reference_hama.py
"""
import json
import math
import os

NA = None


def lcg(seed):
    state = seed
    while True:
        state = (1103515245 * state + 12345) % (2 ** 31)
        yield state / 2 ** 31


def candles(n=1000, seed=42):
    rnd = lcg(seed)
    out, price, t0 = [], 100.0, 1_700_000_000_000
    for i in range(n):
        o = price
        c = o * (1 + (next(rnd) - 0.5) * 0.02 + 0.0004 * math.sin(i / 40))
        h = max(o, c) * (1 + next(rnd) * 0.005)
        lo = min(o, c) * (1 - next(rnd) * 0.005)
        v = 10 + next(rnd) * 90
        out.append({"open_time": t0 + i * 900_000, "close_time": t0 + (i + 1) * 900_000 - 1,
                    "open": round(o, 8), "high": round(h, 8), "low": round(lo, 8), "close": round(c, 8),
                    "volume": round(v, 8)})
        price = c
    return out


def sma(src, n, i):
    if i < n - 1:
        return NA
    w = src[i - n + 1:i + 1]
    if any(v is NA for v in w):
        return NA
    return sum(w) / n


def wma(src, n, i):
    if i < n - 1:
        return NA
    w = src[i - n + 1:i + 1]
    if any(v is NA for v in w):
        return NA
    return sum(v * (k + 1) for k, v in enumerate(w)) / (n * (n + 1) / 2)


def ema_series(src, n, alpha=None):
    alpha = 2 / (n + 1) if alpha is None else alpha
    out = []
    for i, v in enumerate(src):
        prev = out[i - 1] if i > 0 else NA
        if prev is NA:
            out.append(sma(src, n, i))
        elif v is NA:
            out.append(NA)
        else:
            out.append(alpha * v + (1 - alpha) * prev)
    return out


def rma_series(src, n):
    return ema_series(src, n, alpha=1 / n)


def sub(a, b):
    return NA if a is NA or b is NA else a - b


def rsi(src, n):
    # TradingView's built-in RSI: rma of the gains and of the losses, 100 when there is no loss.
    change = [NA] + [src[i] - src[i - 1] for i in range(1, len(src))]
    up = rma_series([NA if d is NA else max(d, 0.0) for d in change], n)
    down = rma_series([NA if d is NA else -min(d, 0.0) for d in change], n)
    g, lo = up[-1], down[-1]
    if g is NA or lo is NA:
        return NA
    return 100.0 if lo == 0 else 0.0 if g == 0 else 100 - 100 / (1 + g / lo)


def pattern(cur, prev):
    body = abs(cur["close"] - cur["open"])
    lower = min(cur["open"], cur["close"]) - cur["low"]
    upper = cur["high"] - max(cur["open"], cur["close"])
    if body == 0:
        return "doji"
    if lower > 2 * body and upper < 0.5 * body:
        return "hammer"
    if upper > 2 * body and lower < 0.5 * body:
        return "shooting_star"
    if cur["close"] > cur["open"] and prev["close"] < prev["open"] and cur["close"] > prev["open"] and cur["open"] < prev["close"]:
        return "bullish_engulfing"
    if cur["close"] < cur["open"] and prev["close"] > prev["open"] and cur["close"] < prev["open"] and cur["open"] > prev["close"]:
        return "bearish_engulfing"
    return "none"


def indicators(cs):
    c = [k["close"] for k in cs]
    line = [sub(a, b) for a, b in zip(ema_series(c, 12), ema_series(c, 26))]
    signal = ema_series(line, 9)
    vols = [k["volume"] for k in cs[-20:]]
    return {
        "rsi": rsi(c, 14), "ema_20": ema_series(c, 20)[-1], "ema_50": ema_series(c, 50)[-1],
        "macd_line": line[-1], "macd_signal": signal[-1], "macd_histogram": sub(line[-1], signal[-1]),
        "support_level": min(min(k["low"], k["close"]) for k in cs[-20:]),
        "resistance_level": max(max(k["high"], k["close"]) for k in cs[-20:]),
        "volume_ratio": cs[-1]["volume"] / (sum(vols) / 20),
        "candle_pattern": pattern(cs[-1], cs[-2]),
    }


def ma_series(kind, src, n):
    if kind == "EMA":
        return ema_series(src, n)
    if kind == "SMA":
        return [sma(src, n, i) for i in range(len(src))]
    return [wma(src, n, i) for i in range(len(src))]


def gt(a, b):
    return a is not NA and b is not NA and a > b


def lt(a, b):
    return a is not NA and b is not NA and a < b


def crossover(a, b, i):
    return i > 0 and gt(a[i], b[i]) and (a[i - 1] is not NA and b[i - 1] is not NA and a[i - 1] <= b[i - 1])


def crossunder(a, b, i):
    return i > 0 and lt(a[i], b[i]) and (a[i - 1] is not NA and b[i - 1] is not NA and a[i - 1] >= b[i - 1])


def analyze(cs, p):
    o = [c["open"] for c in cs]
    h = [c["high"] for c in cs]
    lo = [c["low"] for c in cs]
    c = [c["close"] for c in cs]
    n = len(cs)
    src_open = [NA] + [(o[i - 1] + c[i - 1]) / 2 for i in range(1, n)]
    src_high = [max(h[i], c[i]) for i in range(n)]
    src_low = [min(lo[i], c[i]) for i in range(n)]
    src_close = [(o[i] + h[i] + lo[i] + c[i]) / 4 for i in range(n)]
    c_open = ma_series(p["open"][0], src_open, p["open"][1])
    c_high = ma_series(p["high"][0], src_high, p["high"][1])
    c_low = ma_series(p["low"][0], src_low, p["low"][1])
    c_close = ma_series(p["close"][0], src_close, p["close"][1])
    ma = [wma(c, p["ma"], i) for i in range(n)]
    center = ema_series(ma, 3)
    last = n - 1

    # PineCoders f_c_gradientAdvDecPro(ma, ema(ma, 3), 5): the strength counter.
    steps = 0
    for i in range(1, n):
        if ma[i] is NA or center[i] is NA or ma[i - 1] is NA:
            continue
        up, dn = ma[i] > ma[i - 1], ma[i] < ma[i - 1]
        if ma[i] > center[i]:
            steps = 1 if crossover(ma, center, i) else min(5, steps + 1) if up else max(1, steps - 1) if dn else steps
        elif ma[i] < center[i]:
            steps = 1 if crossunder(ma, center, i) else min(5, steps + 1) if dn else max(1, steps - 1) if up else steps

    last_cross, bars_since, cross_time = "none", None, None
    for i in range(last, 0, -1):
        if crossover(c_close, ma, i):
            last_cross = "up"
        elif crossunder(c_close, ma, i):
            last_cross = "down"
        else:
            continue
        bars_since, cross_time = last - i, cs[i]["close_time"]
        break

    bb_n = p["bb"]
    window = c[n - bb_n:]
    basis = sum(window) / bb_n
    dev = math.sqrt(sum((v - basis) ** 2 for v in window) / bb_n)
    upper, lower = basis + p["mult"] * dev, basis - p["mult"] * dev
    return {
        "hama_open": c_open[last], "hama_high": c_high[last], "hama_low": c_low[last], "hama_close": c_close[last],
        "color": "green" if gt(c_open[last], c_open[last - 1]) else "red",
        "ma": ma[last], "ma_rising": gt(ma[last], ma[last - 1]), "strength": max(steps, 1),
        "trend": "bullish" if ma[last] > center[last] else "bearish" if ma[last] < center[last] else "neutral",
        "last_cross": last_cross, "bars_since": bars_since, "cross_close_time": cross_time,
        "bb_basis": basis, "bb_upper": upper, "bb_lower": lower, "bb_width": (upper - lower) / basis,
        "bb_position": (c[last] - lower) / (upper - lower),
        "indicators": indicators(cs),
    }


def main():
    cs = candles()
    cases = []
    defaults = {"open": ("EMA", 45), "high": ("EMA", 20), "low": ("EMA", 20), "close": ("WMA", 40),
                "ma": 100, "bb": 400, "mult": 2.0}
    variant = {"open": ("SMA", 30), "high": ("WMA", 10), "low": ("SMA", 15), "close": ("EMA", 25),
               "ma": 60, "bb": 200, "mult": 2.5}
    for name, p in (("defaults", defaults), ("variant", variant)):
        for length in (450, 700, 1000):
            cases.append({"name": f"{name}-{length}", "params": p, "candles": length,
                          "want": analyze(cs[:length], p)})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_hama.json")
    with open(path, "w") as f:
        json.dump({"candles": cs, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
