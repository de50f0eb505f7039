"""The expander's statements: a `for` loop unrolled one iteration at a time, an assignment binding
a name to a node, and an input's declaration (a mixin of Expander)."""

from __future__ import annotations

from adcli.errors import NameResolutionError, ShapeError
from adcli.language.expand_loops import KEPT_GAP, TRACE_KEEPS_FROM, loops_from
from adcli.language.expand_static import iterations
from adcli.language.expand_values import Literal, Loop
from adcli.language.graph import FLOAT, INPUT, INT, versioned
from adcli.language.listing import left_out, parse_iterations, picked
from adcli.language.syntax_errors import KEYWORD_AS_NAME, KEYWORDS
from adcli.limits import MAX_DIMENSIONS


class Statements:
    """Expander methods for loops and statements (see adcli.language.expand.Expander for the state
    they use)."""

    # ---- loops ------------------------------------------------------------------------------
    def do_for(self, ins, pc):
        _, var, nargs, end, line, col = ins
        bounds, where = self.pop(nargs)
        numbers = [self.whole(b, at, "a bound of range()") for b, at in zip(bounds, where)]
        for number, at in zip(numbers, where):
            if abs(number) > 2**62:
                raise self.error(ShapeError, f"a bound of range() must be a 64-bit integer, not {number:.3g}", *at)
        if len(numbers) == 3 and numbers[2] == 0:
            raise self.error(ShapeError, "range() step cannot be 0", *where[2])
        self.check_assignable(var, line, col, "use as a loop variable")
        if any(loop.var == var and loop.call is self.current_call() for loop in self.loops):
            raise self.error(NameResolutionError, f"the loop variable '{var}' is already the variable of a loop "
                             "around this one; choose another name", line, col)
        values = range(*numbers)
        count = iterations(*numbers)
        if count == 0:
            return end + 1
        if count >= loops_from() and not self.unroll:
            after = self.loop_node(var, values, pc, end, line, col)
            if after is not None:
                return after
        listing = self.unroll[len("trace:"):] if isinstance(self.unroll, str) else None  # "trace:0:3,-2:"
        if count > self.limit and not (listing is not None and count >= TRACE_KEEPS_FROM):
            raise self.error(ShapeError, f"this loop runs {count:,} times: unrolled, the program would have more "
                             f"than {self.limit:,} operations (the limit follows ADCLI_MAX_BYTES)", line, col)
        loop = Loop(var, values, pc + 1, len(self.nodes), line, col, self.current_call())
        self.loops.append(loop)
        # ("for", variable, value, line, (iteration, count)): a trace's listing folds by the iteration
        self.frames.append(("for", var, values[0], line, (0, count)))
        if listing is not None and count >= TRACE_KEEPS_FROM:  # a trace unrolls only the iterations it lists
            listed = picked(parse_iterations(listing) if listing else None, count)
            loop.gaps = left_out(listed, count, KEPT_GAP)
            loop.listed = count - sum(stop - start for start, stop in loop.gaps)
            if loop.gaps and loop.gaps[0][0] == 0:  # the first iterations are not listed: a loop node first
                self.keep_gap(loop, end)
                if loop.at == count:
                    return self.end_loop(loop, end)
                loop.nodes_before = len(self.nodes)
        self.next_iteration(loop, line, col)
        return pc + 1

    def current_call(self):
        return self.calls[-1] if self.calls else None

    def bind_loop_variable(self, loop, value, line, col) -> None:
        """The loop variable's value for this iteration, in the scope the loop runs in: a function's
        own loop variables are its locals, as in Python, and never clash with its caller's."""
        literal = Literal(value, line, col, str(value), static=True)
        if loop.call is None:
            self.loop_values[loop.var] = literal
        else:
            loop.call.env[loop.var] = literal
            self.bind(loop.call, loop.var, None)  # a number now: it shares no array

    def do_endfor(self, ins, pc):
        loop = self.loops[-1]
        if loop.done == 0:  # one iteration done: foresee this loop's size
            self.foresee(loop, len(self.nodes) - loop.nodes_before)
        loop.at += 1
        loop.done += 1
        if loop.gaps and loop.at == loop.gaps[0][0]:
            self.keep_gap(loop, pc)
        if loop.at < len(loop.values):
            self.next_iteration(loop)
            return loop.start
        return self.end_loop(loop, pc)

    def next_iteration(self, loop, line=0, col=0) -> None:
        """Bind the loop variable for the iteration at loop.at, and say where the nodes it makes are."""
        value = loop.values[loop.at]
        self.bind_loop_variable(loop, value, line, col)
        self.frames[-1] = self.frames[-1][:2] + (value, loop.line, (loop.at, len(loop.values)))
        self.set_context()

    def end_loop(self, loop, pc) -> int:
        """The loop done: its scope closed, its variable keeping its last value; the next instruction."""
        self.loops.pop()
        self.frames.pop()
        self.set_context()
        if loop.call is None:  # as in Python, the variable keeps its last value after the loop
            literal = self.loop_values.pop(loop.var, None)
            if literal is None or literal.value != loop.values[-1]:  # its last iterations kept as a loop
                literal = Literal(loop.values[-1], loop.line, loop.col, str(loop.values[-1]), static=True)
            self.after_loop[loop.var] = literal  # a number that folds, placed in the graph only if used
            self.bind(None, loop.var, None)
        return pc + 1

    def foresee(self, loop, each: int) -> None:
        """Refuse a loop whose iterations, `each` operations apiece, times the loops around it, would
        make more operations than the limit, before they are made."""
        runs = loop.listed
        for outer in self.loops[:-1]:
            runs *= len(outer.values) - outer.at
        if each and len(self.nodes) + each * (runs - 1) > self.limit:
            raise self.error(ShapeError, f"this loop's body runs {runs:,} times (with the loops around it), "
                             f"making {each:,} operation{'s' * (each != 1)} each: about {each * runs:,} in all, "
                             f"more than the limit of {self.limit:,} (it follows ADCLI_MAX_BYTES)",
                             loop.line, loop.col)

    def keep_gap(self, loop, pc) -> None:
        """In a trace of a very long loop, at the first iteration of a run it does not list: that run
        as one loop node (its step a line of the trace), where the body allows one; else the loop
        goes on unrolled, as any other."""
        start, stop = loop.gaps.pop(0)
        self.loops.pop()  # the kept loop is compiled outside this iteration of the unrolled one
        frame = self.frames.pop()
        self.set_context()
        placed = self.loop_node(loop.var, loop.values[start:stop], loop.start - 1, pc, loop.line, loop.col)
        self.loops.append(loop)
        self.frames.append(frame)
        self.set_context()
        if placed is None:  # unrolled, as any other loop: foreseen from the iterations made so far
            loop.gaps, loop.listed = [], len(loop.values)
            if loop.done:
                self.foresee(loop, (len(self.nodes) - loop.nodes_before) // loop.done)
        else:
            loop.at = stop

    # ---- statements -------------------------------------------------------------------------
    def do_assign(self, ins, pc):
        _, name, line, col = ins
        (value,), _ = self.pop(1)
        self.check_assignable(name, line, col, "assign to")
        call = self.current_call()
        if any(loop.var == name and loop.call is call for loop in self.loops):
            raise self.error(NameResolutionError, f"cannot assign to the loop variable '{name}' inside its loop: "
                             "the loop sets it again at the next iteration", line, col)
        key = f"{call.function.name}.{name}" if call else name
        if call is None:
            self.after_loop.pop(name, None)
        if isinstance(value, Literal) and type(value.value) is int:
            value = Literal(value.value, value.line, value.col, value.text, static=True)  # N = 4: an integer
        index = self.operand(value)
        version = self.versions.get(key, 0) + 1
        label = versioned(key, version)
        node = self.nodes[index]
        if node.name is None:  # a value computed by this statement (or a literal) takes the name
            node.name, node.label = key, label
        (call.env if call else self.env)[name] = index
        self.bind(call, name, index)
        self.versions[key] = version
        self.assigned.append((label, index))
        return pc + 1

    def check_assignable(self, name, line, col, verb):
        if name in KEYWORDS:
            raise self.error(NameResolutionError, KEYWORD_AS_NAME.replace("'input'", f"'{name}'"), line, col)
        if name in ("True", "False", "None"):
            raise self.error(NameResolutionError, f"cannot {verb} '{name}': it is a built-in constant", line, col)
        if name in self.functions:  # a built-in's name may name a value (mean = x.mean()), as in Python
            raise self.error(NameResolutionError, f"cannot {verb} '{name}': it is the name of a function defined at "
                             f"line {self.functions[name].line}", line, col)

    def do_declare(self, ins, pc):
        _, name, dtype, shape, data, line, col = ins
        self.check_assignable(name, line, col, "declare")
        if name in self.env:
            used = [self.nodes[i] for i in self.used if self.nodes[i].name == name]
            first = self.nodes[self.env[name]]
            if used:
                where = f"its first use at line {used[0].line}, col {used[0].col}"
            elif self.env[name] in self.declared:
                raise self.error(NameResolutionError, f"input '{name}' is declared twice (first at line "
                                 f"{first.line})", line, col)
            else:
                where = f"it is assigned at line {first.line}"
            raise self.error(NameResolutionError, f"input '{name}' is declared after {where}; "
                             "declare inputs before any statement uses them", line, col)
        if shape is not None and len(shape) > MAX_DIMENSIONS:  # refused where it is written, not at a first use
            raise self.error(ShapeError, f"input '{name}' is declared with {len(shape)} dimensions; arrays have at "
                             f"most {MAX_DIMENSIONS}", line, col)
        # Specialised to the inputs' sizes: the declaration holds them, so every shape rule sees numbers.
        held = None if shape is None else tuple(self.sizes.get(d, d) if isinstance(d, str) else d for d in shape)
        index = self.add(INPUT, (), line, col, name=name, label=name, data=held,
                         dtype=INT if dtype == "int" else FLOAT, extra="data" if data else None)
        self.env[name], self.versions[name] = index, 1
        self.after_loop.pop(name, None)
        self.bind(None, name, index)
        self.declared.append(index)
        for axis, dim in enumerate(shape or ()):
            if isinstance(dim, str):
                self.dims.setdefault(dim, (index, axis))
        return pc + 1
