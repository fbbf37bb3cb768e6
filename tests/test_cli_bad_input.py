"""Every command that reads a file or a flag refuses bad input the way a product does: exit
code 2 and one line that names the problem, never a traceback.

The commands run in-process through ``offerflow.cli.main`` (an uncaught exception fails the
test with its traceback); one case also runs as a real process."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from offerflow.cli import main

LOG = [
    {"context": "new", "action": "a", "propensity": 0.5, "reward": 1.0},
    {"context": "new", "action": "b", "propensity": 0.5, "reward": 0.0},
    {"context": "old", "action": "a", "propensity": 0.5, "reward": 0.0},
    {"context": "old", "action": "b", "propensity": 0.5, "reward": 1.0},
]
PATHS_HEADER = "path,total_conversions,total_conversion_value,total_null\n"
TX_HEADER = "customer,date,value\n"
CAMPAIGN = '[[campaign]]\nid = "c"\nchannels = ["email"]\n[[campaign.offer]]\nid = "o"\n'


def _jsonl(rows) -> str:
    return "".join(orjson.dumps(r).decode() + "\n" for r in rows)


# (name, files {name: text}, argv with {name} placeholders, words the message must hold)
CASES = [
    # offline policy evaluation
    ("ope: no such log", {}, ["ope", "{missing}"], "no such file"),
    ("ope: a directory", {}, ["ope", "{dir}"], "is a directory"),
    ("ope: empty log", {"log": ""}, ["ope", "{log}"], "holds no decisions"),
    ("ope: bad JSON", {"log": "{oops\n"}, ["ope", "{log}"], "not JSON"),
    ("ope: dict context", {"log": _jsonl([{**LOG[0], "context": {"seg": "new"}}])},
     ["ope", "{log}"], "context must be a non-empty string"),
    ("ope: zero propensity", {"log": _jsonl([{**LOG[0], "propensity": 0}])},
     ["ope", "{log}"], "propensity must be a number in (0, 1]"),
    ("ope: negative reward is fine, text is not",
     {"log": _jsonl([{**LOG[0], "reward": "lots"}])}, ["ope", "{log}"], "reward must be"),
    ("ope: target Uniform", {"log": _jsonl(LOG)}, ["ope", "{log}", "--target", "Uniform"],
     "neither uniform, greedy, logged nor a JSON table file"),
    ("ope: target array", {"log": _jsonl(LOG), "t": "[1, 2]"},
     ["ope", "{log}", "--target", "{t}"], "must be a JSON object"),
    ("ope: target bad JSON", {"log": _jsonl(LOG), "t": "{"},
     ["ope", "{log}", "--target", "{t}"], "not JSON"),
    ("ope: misspelt action", {"log": _jsonl(LOG), "t": '{"*": {"A": 1}}'},
     ["ope", "{log}", "--target", "{t}"], "never shows: 'A'"),
    ("ope: 1-based contexts", {"log": _jsonl(LOG), "t": '{"1": {"a": 1}, "2": {"b": 1}}'},
     ["ope", "{log}", "--target", "{t}"], "contexts the log never shows: '1', '2'"),
    ("ope: sum not 1", {"log": _jsonl(LOG), "t": '{"*": {"a": 0.5, "b": 0.2}}'},
     ["ope", "{log}", "--target", "{t}"], "sums to 0.7, not 1"),
    ("ope: logged target missing", {"log": _jsonl(LOG)}, ["ope", "{log}", "--target", "logged"],
     "4 decision(s) carry no 'target'"),
    ("ope: row target not 1", {"log": _jsonl([{**LOG[0], "target": {"a": 0.5}}])},
     ["ope", "{log}", "--target", "logged"], "target sums to 0.5, not 1"),
    ("ope: bootstrap 0", {"log": _jsonl(LOG)}, ["ope", "{log}", "--bootstrap", "0"],
     "must be above 0"),
    ("ope: level 2", {"log": _jsonl(LOG)}, ["ope", "{log}", "--level", "2"], "between 0 and 1"),
    ("ope: unknown replay", {"log": _jsonl(LOG)}, ["ope", "{log}", "--replay", "greedy"],
     "invalid choice"),
    # batch attribution
    ("paths: no such file", {}, ["attribution", "paths", "{missing}"], "no such file"),
    ("paths: empty file", {"p": ""}, ["attribution", "paths", "{p}"], "missing column"),
    ("paths: wrong delimiter", {"p": PATHS_HEADER.replace(",", ";") + "a > b;1;10;2\n"},
     ["attribution", "paths", "{p}"], "missing column"),
    ("paths: missing column", {"p": "path,total_conversions\na > b,1\n"},
     ["attribution", "paths", "{p}"], "missing column"),
    ("paths: negative", {"p": PATHS_HEADER + "a > b,-1,10,2\n"},
     ["attribution", "paths", "{p}"], "line 2: counts and values must be finite"),
    ("paths: not a number", {"p": PATHS_HEADER + "a > b,one,10,2\n"},
     ["attribution", "paths", "{p}"], "line 2: could not convert"),
    ("paths: ragged row", {"p": PATHS_HEADER + "a > b,1,10,2,9\n"},
     ["attribution", "paths", "{p}"], "line 2: the row's fields do not match"),
    ("paths: header only", {"p": PATHS_HEADER}, ["attribution", "paths", "{p}"], "holds no paths"),
    ("paths: order 0", {"p": PATHS_HEADER}, ["attribution", "paths", "{p}", "--order", "0"],
     "must be above 0"),
    ("paths: three columns", {"p": PATHS_HEADER},
     ["attribution", "paths", "{p}", "--columns", "a,b,c"], "--columns needs 4"),
    # predictive-model evaluation
    ("predict: no such file", {},
     ["predict", "evaluate", "{missing}", "--calibration-end", "1997-09-30",
      "--holdout-end", "1998-06-30"], "no such file"),
    ("predict: wrong date", {"tx": TX_HEADER},
     ["predict", "evaluate", "{tx}", "--calibration-end", "1997-13-40",
      "--holdout-end", "1998-06-30"], "--calibration-end must be a date"),
    ("predict: holdout first", {"tx": TX_HEADER},
     ["predict", "evaluate", "{tx}", "--calibration-end", "1998-06-30",
      "--holdout-end", "1997-09-30"], "must come after"),
    ("predict: empty file", {"tx": ""},
     ["predict", "evaluate", "{tx}", "--calibration-end", "1997-09-30",
      "--holdout-end", "1998-06-30"], "holds no transactions"),
    ("predict: wrong delimiter", {"tx": "customer;date;value\n1;1997-01-01;10\n"},
     ["predict", "evaluate", "{tx}", "--calibration-end", "1997-09-30",
      "--holdout-end", "1998-06-30"], "lacks one of the columns"),
    ("predict: bad row date", {"tx": TX_HEADER + "1,01/02/1997,10\n"},
     ["predict", "evaluate", "{tx}", "--calibration-end", "1997-09-30",
      "--holdout-end", "1998-06-30"], "row 2: time data"),
    ("predict: negative value", {"tx": TX_HEADER + "1,1997-01-01,-10\n"},
     ["predict", "evaluate", "{tx}", "--calibration-end", "1997-09-30",
      "--holdout-end", "1998-06-30"], "must not be negative"),
    ("predict: short row", {"tx": TX_HEADER + "1,1997-01-01\n"},
     ["predict", "evaluate", "{tx}", "--calibration-end", "1997-09-30",
      "--holdout-end", "1998-06-30"], "row 2 has 2 field(s)"),
    ("predict: unit days", {"tx": TX_HEADER},
     ["predict", "evaluate", "{tx}", "--calibration-end", "1997-09-30",
      "--holdout-end", "1998-06-30", "--unit-days", "-7"], "finite number above 0"),
    # recommender evaluation
    ("recommend: no such file", {}, ["recommend", "evaluate", "{missing}"], "no such file"),
    ("recommend: empty file", {"r": ""}, ["recommend", "evaluate", "{r}"], "lacks"),
    ("recommend: missing columns", {"r": "user,item\n1,a\n"}, ["recommend", "evaluate", "{r}"],
     "lacks ['timestamp']"),
    ("recommend: bad JSON", {"r": '{"user": 1, "item": "a", "timestamp": 1}\n{bad\n'},
     ["recommend", "evaluate", "{r}"], "line 2: not JSON"),
    ("recommend: negative weight", {"r": "user,item,timestamp,weight\n1,a,1,-2\n"},
     ["recommend", "evaluate", "{r}"], "line 2: weight must be a positive number"),
    ("recommend: header only", {"r": "user,item,timestamp\n"}, ["recommend", "evaluate", "{r}"],
     "holds no interactions"),
    ("recommend: unknown model", {"r": "user,item,timestamp\n1,a,1\n"},
     ["recommend", "evaluate", "{r}", "--models", "hybrid,magic"], "unknown ['magic']"),
    ("recommend: k 0", {"r": "user,item,timestamp\n1,a,1\n"},
     ["recommend", "evaluate", "{r}", "-k", "0"], "must be above 0"),
    # campaign files
    ("campaigns: no such file", {}, ["campaigns", "validate", "{missing}"], "no such"),
    ("campaigns: not TOML", {"c": "[[campaign]\n"}, ["campaigns", "validate", "{c}"],
     "1 error(s)"),
    ("campaigns: unknown channel", {"c": CAMPAIGN.replace("email", "fax")},
     ["campaigns", "publish", "{c}"], "nothing published"),
    ("campaigns: wrong date", {"c": CAMPAIGN + 'start = "2026-13-01"\n'},
     ["campaigns", "validate", "{c}"], "error(s)"),
    ("campaigns: not UTF-8", {"c": b"\xff\xfe[[campaign]]"}, ["campaigns", "validate", "{c}"],
     "is not UTF-8 text"),
    ("peeking: rate 5", {}, ["experiments", "peeking", "--rate", "5"], "between 0 and 1"),
    # policy simulation with drift
    ("simulate: unknown drift", {}, ["simulate", "--drift", "flip@3"], "expected switch@N"),
    ("simulate: drift past the end", {}, ["simulate", "--decisions", "10", "--drift", "switch@10"],
     "before the last decision"),
    ("simulate: bad half-life", {}, ["simulate", "--half-life", "soon"], "soon"),
    ("simulate: delta 2", {}, ["simulate", "--delta", "2"], "between 0 and 1"),
    ("simulate: unknown campaign", {}, ["simulate", "--campaign", "nope"], "no shipped campaign"),
    ("simulate: unknown policy", {}, ["simulate", "--policy", "magic"], "invalid choice"),
    ("campaigns: bad drift",
     {"c": CAMPAIGN.replace('"]\n', '"]\ndrift = { response = "panic" }\n', 1)},
     ["campaigns", "validate", "{c}"], "1 error(s)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "files", "argv", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_naming_the_problem(
    tmp_path, capsys, name, files, argv, words
):
    places = {"missing": str(tmp_path / "missing.txt"), "dir": str(tmp_path)}
    for key, content in files.items():
        path = tmp_path / f"{key}.in"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        places[key] = str(path)
    try:
        code = main([arg.format(**places) for arg in argv])
    except SystemExit as exc:  # argparse refuses a flag itself
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, (name, code, err)
    last = err.strip().splitlines()[-1]
    assert words in last, (name, err)
    assert "Traceback" not in err


def test_a_real_process_refuses_with_one_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(_jsonl(LOG))
    done = subprocess.run(
        [sys.executable, "-m", "offerflow", "ope", str(log), "--target", "Uniform"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "offerflow ope: --target 'Uniform' is neither uniform, greedy, logged nor a JSON table file"
    ]
