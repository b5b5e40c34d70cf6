import json

import litellm

base = "http://127.0.0.1:18765/v1"
tools = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "parameters": {
                "type": "object",
                "properties": {"order_no": {"type": "string"}},
                "required": ["order_no"],
            },
        },
    }
]
r = litellm.completion(
    model="openai/kefu",
    api_base=base,
    api_key="x",
    messages=[{"role": "user", "content": "where is SO20261102-0042?"}],
    tools=tools,
    tool_choice="required",
)
call = r.choices[0].message.tool_calls[0]
print("tools:", r.choices[0].finish_reason, call.function.name, call.function.arguments)
schema = {
    "type": "object",
    "properties": {"product": {"type": "string"}, "price": {"type": "number"}},
    "required": ["product", "price"],
}
r = litellm.completion(
    model="openai/kefu",
    api_base=base,
    api_key="x",
    messages=[{"role": "user", "content": "json please"}],
    response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
)
print("json_schema:", json.loads(r.choices[0].message.content))
try:
    litellm.completion(
        model="openai/kefu",
        api_base=base,
        api_key="x",
        messages=[{"role": "user", "content": "x"}],
        response_format={"type": "xml"},
        num_retries=0,
    )
except Exception as e:
    print("unsupported:", type(e).__name__, str(e)[:160])
s = litellm.completion(
    model="openai/kefu",
    api_base=base,
    api_key="x",
    messages=[{"role": "user", "content": "hi"}],
    stream=True,
)
print("stream:", "".join(c.choices[0].delta.content or "" for c in s))
