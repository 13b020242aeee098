"""GenAI semantic-convention attribute names and content-capture settings.

Shared by every instrumentation; depends on nothing but the standard library so that
instrumentation code needs only the OTel API and wrapt.
"""

from __future__ import annotations

import os

# Operation and provider
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # pre-1.37 name, still read from other instrumentations

# Request
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"

# Response
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
GEN_AI_OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"

# Usage
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"

# Content (JSON strings in the semconv message shape)
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"

# Tools, agents, retrieval
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_DATA_SOURCE_ID = "gen_ai.data_source.id"

# Generic
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# spanrun's own attributes (stamped by the run processor, read by the exporter)
SPANRUN_RUN_ID = "spanrun.run_id"
SPANRUN_EXPERIMENT_ID = "spanrun.experiment_id"

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CONTENT_OFF = {"false", "0", "no", "off", "no_content", "none"}


def content_capture_enabled(override: bool | None = None) -> bool:
    """Content is captured by default; ``override`` (from ``autolog(log_content=...)``) wins,
    else the OTel variable turns it off with ``false`` or ``NO_CONTENT``."""
    if override is not None:
        return override
    value = os.environ.get(CAPTURE_CONTENT_ENV)
    if value is None:
        return True
    return value.strip().lower() not in _CONTENT_OFF


# Chain / agent level input and output (OpenInference's names, JSON strings), so that the
# exporter can fill a chain run's prediction row from any instrumentation that sets them.
INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
