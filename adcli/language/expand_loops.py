"""A long `for` loop kept as one node (a mixin of Expander): its body compiled once into a graph of
its own, a step from the values it carries to their next ones, which the engine runs N times.

The loop variable is an integer input of the body, the names the body assigns that were bound
before the loop are its carried values (several are packed into one flat vector, as JAX's scan
carries a pytree), and the file's values it reads are more inputs (a closure, as for fixed_point's
function). A loop the body cannot be compiled for (its variable used where a number must be known
as the file is read, a carried value changing shape or type, a name it makes read after it) is
unrolled as before, which also gives any error its usual place and words.
"""

from __future__ import annotations

import math
import os

from adcli.errors import AdError, InputError, NameResolutionError, ShapeError
from adcli.language.expand_values import Literal, Marker
from adcli.language.graph import CONST, FLOAT, INPUT, INT, SHAPED, Graph, Node, label_temporaries
from adcli.limits import operation_limit
from adcli.operations import OPS, Mismatch
from adcli.operations.implicit import Body

WORK_PER_OPERATION = 100  # a step of a loop kept as a loop costs far less than a node unrolled
LOOPS_FROM = 64  # iterations: a shorter loop is unrolled (its trace lists every step; the graph is small)
# A trace unrolls every loop, but of one this long only the iterations it lists (--iterations): each
# run of the others, KEPT_GAP iterations or more, is kept as a loop, one step of the trace, so a
# million iterations fit (a shorter run is unrolled, and the listing folds it).
TRACE_KEEPS_FROM = 10_000
KEPT_GAP = 8


class Unrolled(Exception):
    """The loop must be unrolled (a carried value changes type)."""


def loops_from() -> int:
    """The fewest iterations a loop kept as a loop has: ADCLI_LOOPS_FROM, else 64; `adcli trace`
    unrolls every loop, whatever its length (it lists each step)."""
    text = os.environ.get("ADCLI_LOOPS_FROM", "").strip()
    if not text:
        return LOOPS_FROM
    if not text.isdigit() or len(text) > 18:
        raise InputError(f"ADCLI_LOOPS_FROM={text!r}: expected a whole number of iterations, such as 64 (a loop of "
                         "that many or more is kept as a loop)")
    return int(text)


def assigned_names(code: list, start: int, end: int) -> list[str]:
    """The names the instructions start..end-1 give values, in order of first assignment."""
    names: dict[str, None] = {}
    for ins in code[start:end]:
        if ins[0] in ("assign", "augment", "update"):
            names.setdefault(ins[1])
        elif ins[0] == "unpack":
            for name in ins[1]:
                names.setdefault(name)
    return list(names)


class Loops:
    """Expander methods for loops kept as loops (see adcli.language.expand.Expander)."""

    parent = None  # the expander whose loop this one compiles the body of
    repeats = 1  # how many times that body runs (its loop's count, times the loops around that)

    def node_shapes(self) -> list:
        """Every node's shape as numbers, from the shape rules (None where one is not known as the file
        is read); kept, and extended as nodes are added."""
        known = self.__dict__.setdefault("shape_memo", [])
        nodes = self.nodes
        for i in range(len(known), len(nodes)):
            node = nodes[i]
            shape = None
            if node.op == CONST:
                shape = tuple(node.data.shape)
            elif node.op == INPUT:
                shape = self.input_shape(i)
            elif all(known[a] is not None for a in node.args):
                try:
                    shape = tuple(OPS[node.op].shape(*[known[a] for a in node.args], **(node.params or {})))
                except (Mismatch, ValueError, TypeError):
                    shape = None
            known.append(shape)
        return known

    def input_shape(self, index: int):
        """An input's shape: given (a loop body's own inputs), declared, or the value's it stands for."""
        node = self.nodes[index]
        given = self.__dict__.get("input_shapes", {})
        if index in given:
            return given[index]
        if isinstance(node.data, tuple) and all(isinstance(d, int) for d in node.data):
            return node.data
        parent = self.parent
        if parent is not None and index in self.used:  # the file's value the body reads
            outer = parent.lookup(node.label, node.line, node.col)
            if isinstance(outer, int):
                return parent.node_shapes()[outer]
        return None

    def outer_value(self, name, line, col):
        """A name this loop body reads from around it: a number known as the file is read stays one
        (the loop variable of a loop around this one, N = 4, a constant), anything else is None
        (the body takes it as an input)."""
        outer = self.parent.lookup(name, line, col)
        if isinstance(outer, Literal):
            return outer
        if isinstance(outer, int) and self.parent.nodes[outer].op == CONST:
            node = self.parent.nodes[outer]
            self.nodes.append(Node(CONST, (), None, None, node.label, line, col, node.data, node.dtype, self.ctx))
            return len(self.nodes) - 1
        if isinstance(outer, int):
            return None
        return outer

    def loop_node(self, var, values, pc, end, line, col):
        """The loop as one node, and the next instruction after it; None where it must be unrolled."""
        call = self.current_call()
        names = assigned_names(self.code, pc + 1, end)
        if var in names:
            return None  # assigning the loop variable is an error, which unrolling reports
        scope = call.env if call is not None else self.env
        carries = [n for n in names if isinstance(scope.get(n), int)]
        made = [n for n in names if n not in carries]
        if any(self.read_later(end, n) for n in made):
            return None  # a name the body makes, read after the loop: the last iteration's
        if not carries:
            return None  # nothing carried: the body's values are not used after it
        shapes = self.node_shapes()
        starts = []
        for name in carries:
            index = scope[name]
            node = self.nodes[index]
            if node.dtype not in (FLOAT, SHAPED) and not (node.op == CONST and node.dtype == INT):
                return None
            starts.append((index, shapes[index]))
        if len(carries) > 1 and any(s is None for _, s in starts):
            return None  # packing several needs their sizes as the file is read (declared inputs' shapes)
        try:
            ints = {name for name, (index, _) in zip(carries, starts) if self.nodes[index].dtype == INT}
            if ints:  # n = n + 1 from n = 0 stays an integer (unrolled, as before); s += x[t] becomes a float
                self.loop_body(var, carries, [s for _, s in starts], values, pc, end, line, col, ints)
            body, closure = self.loop_body(var, carries, [s for _, s in starts], values, pc, end, line, col)
        except (AdError, Unrolled):
            return None
        self.check_work(len(values), sum(1 for n in body.graph.nodes if n.op not in (INPUT, CONST)) or 1, line, col)
        # Where every shape is known, a body that changes a carried value's shape is unrolled; where one
        # is not (an input declared without a shape), the loop node's shape rule refuses it when it runs.
        shapes = self.node_shapes()
        known = [shapes[c] for c in closure]
        packed = self.packed_shape([s for _, s in starts])
        if packed is not None and None not in known:
            try:
                if tuple(body.out_shape([(), packed] + known)) != packed:
                    return None
            except Mismatch:
                return None
        return self.place_loop(var, values, body, carries, starts, closure, pc, end, line, col)

    def runs(self, count: int) -> int:
        """How many times a loop's body runs: its count, times the loops around it."""
        runs = count * self.repeats
        for outer in self.loops:
            runs *= len(outer.values) - outer.at
        return runs

    def check_work(self, count: int, each: int, line, col) -> None:
        """Refuse a loop whose steps, with the loops around it (unrolled, or kept as loops), would run
        more operations than WORK_PER_OPERATION times the limit on unrolled operations: nothing is
        built for them, but running them would take hours."""
        runs = self.runs(count)
        limit = WORK_PER_OPERATION * operation_limit()
        if runs * each > limit:
            raise self.error(ShapeError, f"this loop's body runs {runs:,} times (with the loops around it), {each:,} "
                             f"operations each: about {runs * each:,} in all, more than the limit of {limit:,} "
                             "(it follows ADCLI_MAX_BYTES)", line, col)

    @staticmethod
    def packed_shape(shapes) -> tuple | None:
        return shapes[0] if len(shapes) == 1 else (sum(math.prod(s) for s in shapes),)

    def loop_body(self, var, carries, shapes, values, pc, end, line, col, ints=(),
                  test=False) -> tuple[Body, list[int]]:
        """The body as a graph of its own: inputs the loop variable, the carried values (packed when
        several), then the file's values it reads; its output their next values, packed alike. The
        carried values named in `ints` are integers in it: Unrolled if one's next value is one too.
        A while loop's (var None) has an iteration count for its variable, which the file cannot
        name; with `test`, the instructions are its condition, and the output their value."""
        # a plain expander (not lint's, which goes on after an error): an error in the body means unrolling it
        sub = self.plain(self.code, self.file, self.source, self.sizes, self.unroll)
        sub.functions, sub.later, sub.limit = self.functions, self.later, self.limit - len(self.nodes)
        sub.parent, sub.solving, sub.input_shapes = self, self.solving, {}
        sub.repeats = self.runs(len(values))
        frame = ("for", var) if var is not None else ("while", "iteration")
        sub.frames = list(self.frames) + [frame + (f"{values[0]} … {values[-1]}", line)]  # its every value
        sub.set_context()
        t = sub.add(INPUT, (), line, col, name=frame[1], label=frame[1], dtype=INT)
        sub.input_shapes[t] = ()
        packed = sub.add(INPUT, (), line, col, name=carries[0] if len(carries) == 1 else "carried",
                         label=carries[0] if len(carries) == 1 else "carried",
                         dtype=INT if len(carries) == 1 and carries[0] in ints else FLOAT)
        if shapes[0] is not None:
            sub.input_shapes[packed] = self.packed_shape(shapes)
        if var is not None:
            sub.env[var] = t
        offset = 0
        for name, shape in zip(carries, shapes):
            if len(carries) == 1:
                index = packed
            else:
                size = math.prod(shape)
                part = sub.add("getitem", (packed,), line, col, {"index": (slice(offset, offset + size),)})
                index = sub.add("reshape", (part,), line, col, {"shape": tuple(shape)}, name=name, label=name,
                                dtype=INT if name in ints else FLOAT)
                sub.copies.add(index)  # each carried value its own array, as it was before the loop
                offset += size
            sub.env[name], sub.versions[name] = index, 1
            sub.bind(None, name, index)
        handlers = sub.handlers()
        at = pc + 1
        while at < end:
            at = handlers[self.code[at][0]](self.code[at], at)
        outputs = []
        if test:
            (value,), _ = sub.pop(1)
            outputs.append(sub.operand(value))
        for name in carries if not test else ():
            out = sub.env[name]
            if sub.nodes[out].dtype not in (FLOAT, SHAPED):
                raise Unrolled(name)
            outputs.append(out)
        if len(outputs) > 1:
            flat = [sub.add("reshape", (o,), line, col, {"shape": (-1,)}) for o in outputs]
            outputs = [sub.add("concat", tuple(flat), line, col, {"axis": 0})]
        closure = []
        for index in sub.used:
            closure.append(self.operand(self.lookup(sub.nodes[index].label, line, col)))
            sub.nodes[index].dtype = INT if self.nodes[closure[-1]].dtype == INT else FLOAT
        graph = Graph(sub.nodes, [t, packed] + sub.used, [("loop", outputs[0])], {}, self.file, self.source,
                      sub.contexts)
        label_temporaries(graph)
        name = f"{'while' if var is None else 'loop'}_{line}" + ("_test" if test else "")
        return Body(name, graph, (frame[1], *carries), line, col, self.span(line, col), outputs), closure

    def place_loop(self, var, values, body, carries, starts, closure, pc, end, line, col) -> int:
        """The loop's node, each carried name bound to its value after the loop, the loop variable to
        its last value (as in Python); the instruction after the loop."""
        start = self.carried_start(starts, line, col)
        params = {"body": body, "start": values.start, "step": values.step, "count": len(values)}
        node = self.add("loop", [start] + closure, line, col, params, dtype=FLOAT)
        self.bind_carried(node, carries, starts, pc, line, col)
        last = Literal(values[-1], line, col, str(values[-1]), static=True)
        call = self.current_call()
        if call is None:  # as in Python, the variable keeps its last value after the loop
            self.after_loop[var] = last
            self.bind(None, var, None)
        else:
            call.env[var] = last
            self.bind(call, var, None)
        return end + 1

    def carried_start(self, starts, line, col) -> int:
        """The carried values before the loop, packed when several; an integer one made a float."""
        firsts = []
        for index, shape in starts:
            node = self.nodes[index]
            if node.dtype == INT:  # s = 0 before s += x[t]: carried as a float
                if any(index in other.args for other in self.nodes[index + 1:]):  # read as an integer too
                    index = self.operand(Literal(node.data.astype(float), line, col, node.label))
                else:
                    node.data, node.dtype = node.data.astype(float), FLOAT
            firsts.append(index)
        if len(firsts) > 1:
            flat = [self.add("reshape", (i,), line, col, {"shape": (-1,)}) for i in firsts]
            start = self.add("concat", tuple(flat), line, col, {"axis": 0})
        else:
            start = firsts[0]
        return start

    def bind_carried(self, node, carries, starts, pc, line, col) -> None:
        """Each carried name bound to its part of the loop node's value."""
        offset = 0
        for name, (_, shape) in zip(carries, starts):
            if len(carries) == 1:
                value = node
            else:
                size = math.prod(shape)
                part = self.add("getitem", (node,), line, col, {"index": (slice(offset, offset + size),)})
                value = self.add("reshape", (part,), line, col, {"shape": tuple(shape)})
                self.copies.add(value)
                offset += size
            self.push(value, line, col)
            self.do_assign(("assign", name, line, col), pc)

    # ---- while cond, max_iter=K: ------------------------------------------------------------
    def read_later(self, end: int, name: str) -> bool:
        """Whether the scope the loop at `end` ends in reads `name` after it, before assigning it
        again: the rest of its function, or of the file outside the functions, and the bodies of
        the functions defined later that read the file's `name` (not a parameter or local of theirs)."""
        call = self.current_call()
        stop = call.function.end if call is not None else len(self.code)
        owns: list[bool] = []  # per function definition entered: whether `name` is its own
        for at in range(end + 1, stop):
            ins = self.code[at]
            if ins[0] == "def":
                owns.append(name in ins[2] or name in assigned_names(self.code, at + 1, ins[4]))
            elif ins[0] == "enddef":
                if not owns:  # the end of the function the loop is in
                    break
                owns.pop()
            elif owns:
                if not any(owns) and ins[:2] == ("name", name):
                    return True  # a function that reads the file's value when it is called
            elif ins[1:2] == (name,) and ins[0] in ("name", "assign", "augment", "update"):
                return ins[0] != "assign"  # x += 1 and x[i] = v read it too
        return False

    def past_bound(self, mode, at) -> str:
        """What on_max_iter= asks for when the condition still holds after max_iter: "error" or "warn"."""
        if not (isinstance(mode, Marker) and mode.kind == "str" and mode.value in ("error", "warn")):
            raise self.error(ShapeError, 'on_max_iter is "error" (the default: the condition still holding after '
                             'max_iter steps is an error) or "warn" (the value after max_iter steps, and a warning)',
                             *at)
        return mode.value

    def do_while(self, ins, pc):
        """`while cond, max_iter=K:` as one node: its condition and its body each compiled once into a
        graph of their own, the body run while the condition holds, at most K times. Its count is
        known only when it runs, so it is never unrolled (a trace shows it as one step)."""
        _, test_end, body_start, end, line, col, told = ins
        handlers = self.handlers()
        at = test_end
        while at < body_start:
            at = handlers[self.code[at][0]](self.code[at], at)
        (bound, *mode), (where, *mode_at) = self.pop(2 if told else 1)
        warn = bool(mode) and self.past_bound(mode[0], mode_at[0]) == "warn"
        max_iter = self.whole(bound, where, "max_iter of a while loop")
        if not 1 <= max_iter <= 2**62:
            raise self.error(ShapeError, f"a while loop needs max_iter from 1 to 2**62, not {max_iter}", *where)
        call = self.current_call()
        scope = call.env if call is not None else self.env
        names = assigned_names(self.code, body_start, end)
        carries = [n for n in names if isinstance(scope.get(n), int)]
        made = [n for n in names if n not in carries and self.read_later(end, n)]
        if made:
            raise self.error(NameResolutionError, f"'{made[0]}' is first given a value in this while loop's body and "
                             f"read after it: give it one before the loop ({made[0]} = 0), so that the loop carries "
                             "it", line, col)
        if not carries:
            raise self.error(ShapeError, "this while loop changes no value given before it: its body must update a "
                             "name that has a value before the loop (x = x0, then x = ... in the body)", line, col)
        shapes = self.node_shapes()
        starts = [(scope[n], shapes[scope[n]]) for n in carries]
        for name, (index, _) in zip(carries, starts):
            node = self.nodes[index]
            if node.dtype not in (FLOAT, SHAPED) and not (node.op == CONST and node.dtype == INT):
                raise self.error(ShapeError, f"a while loop carries float values, and '{name}' is "
                                 f"{'an integer' if node.dtype == INT else 'a condition'} here: give it a float "
                                 f"value before the loop ({name} = 0.0)", line, col)
        if len(carries) > 1 and any(s is None for _, s in starts):
            raise self.error(ShapeError, f"this while loop carries {', '.join(carries)}, whose shapes are not known "
                             "as the file is read: declare the shapes of the inputs they come from (input x: [3])",
                             line, col)
        values = range(max_iter)
        sizes = [s for _, s in starts]
        try:
            body, closure = self.loop_body(None, carries, sizes, values, body_start - 1, end, line, col)
        except Unrolled as e:
            raise self.error(ShapeError, f"a while loop carries float values, and its body makes '{e.args[0]}' "
                             "an integer or a condition", line, col) from None
        test, tested = self.loop_body(None, carries, sizes, values, pc, test_end, line, col, test=True)
        packed, shapes = self.packed_shape(sizes), self.node_shapes()
        if packed is not None and None not in [shapes[c] for c in closure + tested]:
            try:
                OPS["while"].shape(packed, *[shapes[c] for c in closure + tested], body=body, test=test,
                                   split=len(closure))
            except Mismatch as e:
                raise self.error(ShapeError, str(e), line, col) from None
        self.check_work(max_iter, sum(1 for n in body.graph.nodes if n.op not in (INPUT, CONST)) or 1, line, col)
        start = self.carried_start(starts, line, col)
        params = {"body": body, "test": test, "split": len(closure), "max_iter": max_iter, "warn": warn}
        node = self.add("while", [start] + closure + tested, line, col, params, dtype=FLOAT)
        self.bind_carried(node, carries, starts, pc, line, col)
        return end + 1
