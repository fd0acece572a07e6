"""The layout of issue 11: scripts at the top, shared machinery in nanogpt/, no import cycles, one error style."""
import os
import re
import subprocess
import sys

from harness import ROOT


def test_no_import_cycles():
    p = subprocess.run([sys.executable, 'tools/import_graph.py'], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0 and 'no import cycles' in p.stdout, p.stdout + p.stderr


def test_one_error_style():
    """Only nanogpt/errors.py prints 'error:' and exits 2 by hand; everything else calls fail() (or
    errors.report() for a line with another exit code)."""
    offenders = []
    for d, _, files in os.walk(ROOT):
        if any(part in d for part in ('.git', 'tests', os.sep + 'out')):
            continue
        for f in files:
            if f.endswith('.py') and os.path.join(d, f) != os.path.join(ROOT, 'nanogpt', 'errors.py'):
                src = open(os.path.join(d, f), encoding='utf-8').read()
                if re.search(r'raise SystemExit\(f?["\']error|sys\.exit\(2\)|print\(f?["\']error:', src):
                    offenders.append(os.path.relpath(os.path.join(d, f), ROOT))
    assert not offenders, offenders
