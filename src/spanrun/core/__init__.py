"""The bottom layer: what every other part of spanrun shares and nothing of spanrun's own.

- :mod:`spanrun.core.entities`: runs, experiments, metrics, params, tags, spans (MLflow's shapes);
- :mod:`spanrun.core.semconv`: the OpenTelemetry GenAI attribute names spanrun writes and reads;
- :mod:`spanrun.core.vocabulary`: the LLM metric names, prediction-file columns and system tags;
- :mod:`spanrun.core.text`, :mod:`spanrun.core.process`, :mod:`spanrun.core.fork`: text every
  store can hold, the identity of a process, fork hooks;
- :mod:`spanrun.core.internal_errors`: the one policy for spanrun's own errors;
- :mod:`spanrun.core.current`: what the tracking layer tells the layers below it.

Errors are :mod:`spanrun.errors` (also core). Layers above (instrumentation; store and
artifacts; tracking and exporters; the facade, CLI and server) import downwards only; see
``tests/test_layers.py``.
"""
