"""
Which project module imports which, and a check that no import cycle exists (a cycle makes the import order
matter and is how a flat layout starts to tangle). Tests are left out.

  python tools/import_graph.py            # prints module: its project imports, then the verdict; exit 1 on a cycle
"""
import ast
import os
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
mods = {}
for d, _, fs in os.walk(root):
    if os.path.relpath(d, root).split(os.sep)[0] in ('.git', 'tests'):
        continue
    for f in fs:
        if f.endswith('.py'):
            p = os.path.relpath(os.path.join(d, f), root)
            name = p[:-3].replace('/', '.')
            mods[name] = p
local = set(mods)
graph = {}
for name, p in mods.items():
    t = ast.parse(open(os.path.join(root, p)).read())
    deps = set()
    for n in ast.walk(t):
        if isinstance(n, ast.ImportFrom) and n.module:
            if n.module in local: deps.add(n.module)
            elif n.module == 'nanogpt':
                deps |= {f'nanogpt.{a.name}' for a in n.names if f'nanogpt.{a.name}' in local}
        elif isinstance(n, ast.Import):
            deps |= {a.name for a in n.names if a.name in local}
    graph[name] = sorted(deps - {name})
# cycle check
state = {}
def dfs(u, stack):
    state[u] = 1
    for v in graph.get(u, []):
        if state.get(v) == 1: sys.exit(f"error: import cycle: {' -> '.join(stack + [u, v])}")
        if not state.get(v): dfs(v, stack + [u])
    state[u] = 2
for u in graph:
    if not state.get(u): dfs(u, [])
for u in sorted(graph):
    if u.startswith('nanogpt') or '.' not in u:
        print(f"{u}: {', '.join(graph[u]) or '-'}")
print("no import cycles among", len(graph), "modules")
