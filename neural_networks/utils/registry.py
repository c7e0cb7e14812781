"""The one lookup behind every ``initialize_<thing>(name, ...)`` factory.

A factory keeps a dict ``name -> class or function``, calls ``build`` and
is decorated with ``factory``. An unknown name, a keyword the chosen entry
does not take, or a required argument left out is a ``ValueError`` that
names it and lists what is accepted, so a typo such as
``activaton="relu"``, ``padding="valid"`` or ``learning_rate=0.01`` can
never train another model without a word, nor end in Python's TypeError.
"""

import functools
import inspect


def lookup(registry, what, name):
    """``registry[name]``, or ValueError naming ``name`` and listing the valid names.

    Parameters
    ----------
    registry  dict name -> entry
    what      what the entries are, for the message ("layer", "optimizer", ...)
    name      the name asked for
    """
    try:
        return registry[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(k) for k in sorted(registry))
        raise ValueError(f"unknown {what} {name!r}; expected one of {valid}") from None


def accepted_keywords(entry):
    """The keyword names ``entry`` (a class or function) accepts, in order."""
    parameters = inspect.signature(entry).parameters.values()
    return [p.name for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_keywords(entry, what, name, options):
    """Raise ValueError if ``options`` holds a keyword that ``entry`` does not take."""
    accepted = accepted_keywords(entry)
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise ValueError(
            f"{what} {name!r} does not take {', '.join(repr(k) for k in unknown)}; "
            f"it accepts {', '.join(accepted) or 'no arguments'}"
        )


def check_required(entry, what, name, options):
    """Raise ValueError if ``options`` lacks an argument that ``entry`` requires."""
    missing = [p.name for p in inspect.signature(entry).parameters.values()
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in options]
    if missing:
        raise ValueError(
            f"{what} {name!r} needs {', '.join(missing)}; got {options or 'no arguments'}"
        )


def _unique(names):
    return list(dict.fromkeys(names))


def _call_problems(function, registry, what, args, kwargs):
    """What is wrong with calling the factory ``function`` with ``args`` and
    ``kwargs``: a list of problems in words, and the sentence listing what
    the call could have used."""
    parameters = list(inspect.signature(function).parameters.values())
    named = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    positional = [p.name for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD]
    takes_options = any(p.kind == p.VAR_KEYWORD for p in parameters)
    given = {**dict(zip(positional, args, strict=False)), **kwargs}  # extras reported below
    name = given.get("name")
    entry = registry.get(name) if isinstance(name, str) else None
    valid_names = ", ".join(map(repr, sorted(registry)))
    accepted = _unique([p.name for p in named]
                       + (accepted_keywords(entry) if takes_options and entry else []))
    problems = []
    if "name" in given and entry is None:
        problems.append(f"unknown {what} {name!r} (expected one of {valid_names})")
    if len(args) > len(positional):
        problems.append(f"{len(args)} arguments by position, but at most {len(positional)} "
                        f"({', '.join(positional)})")
    twice = [k for k in kwargs if k in positional[:len(args)]]
    if twice:
        problems.append(f"{', '.join(map(repr, twice))} given both by position and by keyword")
    # With **options, a keyword is unknown only once the entry says it does not take it.
    unknown = [k for k in kwargs if k not in accepted and (entry or not takes_options)]
    if unknown:
        problems.append(f"unknown keyword{'s' * (len(unknown) > 1)} "
                        f"{', '.join(map(repr, unknown))}")
    missing = [p.name for p in named if p.default is p.empty and p.name not in given]
    if missing:
        names = [f"'name' (one of {valid_names})" if m == "name" else repr(m) for m in missing]
        problems.append(f"missing {', '.join(names)}")
    subject = f"with {what} {name!r} it" if takes_options and entry else "it"
    return problems, f"{subject} accepts {', '.join(accepted)}"


def factory(registry, what):
    """Decorate the factory ``initialize_<thing>`` of ``registry``.

    A call that Python would refuse with a TypeError (a required argument
    left out, a keyword neither the factory nor the chosen entry takes, too
    many arguments by position) is refused with a ValueError instead, which
    names each problem and lists the keywords the call could have used.
    A call that binds runs the factory as it is (no cost but the binding).
    """
    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def checked(*args, **kwargs):
            try:
                signature.bind(*args, **kwargs)
            except TypeError as error:
                problems, accepts = _call_problems(function, registry, what, args, kwargs)
                raise ValueError(f"{function.__name__}: {'; '.join(problems or [str(error)])}; "
                                 f"{accepts}") from None
            return function(*args, **kwargs)

        return checked

    return decorate


def build(registry, what, name, options):
    """Look ``name`` up and call it with ``options`` (None values left out).

    An option given as None takes the entry's default, as the course's
    factories do; any other option must be one the entry accepts, and every
    argument the entry requires must be given.

    Parameters
    ----------
    registry  dict name -> class or function
    what      what the entries are, for error messages
    name      the name asked for
    options   dict of keyword arguments

    Returns
    -------
    ``registry[name](**options)``
    """
    entry = lookup(registry, what, name)
    given = {k: v for k, v in options.items() if v is not None}
    check_keywords(entry, what, name, given)
    check_required(entry, what, name, given)
    return entry(**given)
