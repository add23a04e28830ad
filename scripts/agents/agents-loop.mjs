// A two-turn tool loop with the OpenAI Agents SDK (its default model and default Responses
// API), run by internal/server/agents_test.go against the runestone binary. The endpoint and
// key come from OPENAI_BASE_URL and OPENAI_API_KEY, as for any user of the SDK.
// Usage: node agents-loop.mjs "<prompt>" [--stream]
// Prints one JSON line: {"final": <final output>, "toolCalls": [<arguments>...]}.
import { Agent, run, setTracingDisabled, tool } from '@openai/agents';
import { z } from 'zod';

setTracingDisabled(true); // tracing would post to the vendor's tracing endpoint

const prompt = process.argv[2] ?? 'call get_weather';
const stream = process.argv.includes('--stream');
const toolCalls = [];

const getWeather = tool({
  name: 'get_weather',
  description: 'Current weather for a city.',
  parameters: z.object({ city: z.string() }),
  execute: async (args) => {
    toolCalls.push(args);
    return `sunny in ${args.city}`;
  },
});

const agent = new Agent({
  name: 'runestone-check',
  instructions: 'Answer briefly. Use get_weather when asked about weather.',
  tools: [getWeather],
});

let final;
if (stream) {
  const result = await run(agent, prompt, { stream: true, maxTurns: 4 });
  await result.completed;
  final = result.finalOutput;
} else {
  const result = await run(agent, prompt, { maxTurns: 4 });
  final = result.finalOutput;
}
console.log(JSON.stringify({ final, toolCalls }));
