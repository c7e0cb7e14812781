"""The one lookup behind every ``initialize_<thing>(name, ...)`` factory.

A factory keeps a dict ``name -> class or function`` and calls ``build``.
An unknown name, or a keyword the chosen entry does not take, is a
``ValueError`` that names it and lists what is accepted, so a typo such as
``activaton="relu"`` or ``padding="valid"`` can never train another model
without a word.
"""

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


def build(registry, what, name, options):
    """Look ``name`` up and call it with ``options`` (None values left out).

    An option given as None takes the entry's default, as the course's
    factories do; any other option must be one the entry accepts.

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
    return entry(**given)
