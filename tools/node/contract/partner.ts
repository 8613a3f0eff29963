// What a TypeScript partner writes with the types openapi-typescript generates from /api/schema/
// (tools/node/generate-types.mjs): tests/partner_api/test_generated_clients.py generates `schema.ts` next
// to this file and runs `tsc --strict` on both. Every line here must compile, and each one marked as an
// expected error must not: that is the contract the schema promises.
import type { components, operations, paths, webhooks } from "./schema";

type Schemas = components["schemas"];

// POST /clips: the audio is a Blob (`format: binary`), and a clip needs nothing but it and an id.
const minimal: Schemas["ClipSubmitRequest"] = {
  audio: new Blob([new Uint8Array([0x52, 0x49, 0x46, 0x46])], { type: "audio/wav" }),
  external_id: "gen-8841",
};
const full: Schemas["ClipSubmitRequest"] = {
  ...minimal,
  title: "Night drive",
  model_name: "tg-2",
  model_version: "2.1",
  generated_at: "2026-10-12T08:00:00Z",
  declared_references: ["USRC17607839"],
  extra: { prompt: "lofi night drive", seed: 4 },
};
// @ts-expect-error a file name is not a file
const textForFile: Schemas["ClipSubmitRequest"] = { audio: "clip.wav", external_id: "gen-1" };
// @ts-expect-error a form cannot say null: leave generated_at out instead
const nullDate: Schemas["ClipSubmitRequest"] = { ...minimal, generated_at: null };

function clipForm(clip: Schemas["ClipSubmitRequest"]): FormData {
  const form = new FormData();
  form.append("audio", clip.audio, "clip.wav");
  form.append("external_id", clip.external_id);
  if (clip.generated_at !== undefined) form.append("generated_at", clip.generated_at);
  for (const isrc of clip.declared_references ?? []) form.append("declared_references", isrc);
  if (clip.extra !== undefined) form.append("extra", JSON.stringify(clip.extra));
  return form;
}

// POST /usage: a line without a territory is complete; an absent field is absent.
const batch: Schemas["UsageBatchRequest"] = {
  currency: "EUR",
  period_start: "2026-10-01",
  period_end: "2026-10-31",
  lines: [{ line_id: "L-0001", external_id: "gen-8841", usage_count: 1200, net_revenue: "14.40" }],
};
// @ts-expect-error usage_count is required
const noCount: Schemas["UsageLine"] = { line_id: "L-0002", clip_id: 1, net_revenue: "1.00" };
// @ts-expect-error money is a decimal string, never a float
const floatRevenue: Schemas["UsageLine"] = { line_id: "L-0003", clip_id: 1, usage_count: 1, net_revenue: 1.5 };

// PATCH /webhooks/{endpoint_id}: any subset of the fields.
const pause: Schemas["PatchedWebhookUpdateRequest"] = { is_active: false };

// Answers, errors and headers.
type SubmitAnswer = paths["/api/v1/clips"]["post"]["responses"][202]["content"]["application/json"];
type NotReady = operations["clips_attribution_current"]["responses"][404]["content"]["application/json"];
type Replayed = operations["clips_submit"]["responses"][200]["headers"]["Idempotent-Replayed"];
type RequestId = operations["settlements_list"]["responses"][200]["headers"]["X-Request-ID"];

function owed(page: Schemas["PaginatedSettlementList"]): string[] {
  return page.results.map((s) => `${s.period} ${s.currency} ${s.amount_due}`);
}
function nextCursor(page: Schemas["PaginatedClipList"]): string | null {
  return page.next;
}
function isrcs(attribution: Schemas["Attribution"]): string[] {
  return attribution.shares.map((share) => `${share.recording.isrc} ${share.share}`);
}
function rejectReason(clip: Schemas["Clip"]): string {
  return clip.reject === null ? "" : `${clip.reject.code}: ${clip.reject.message}`;
}
function errorCode(answer: NotReady): string {
  return answer.error.code;
}

// Webhook payloads (OpenAPI 3.1 `webhooks`), typed per event.
type Attributed = webhooks["clip.attributed"]["post"]["requestBody"]["content"]["application/json"];
type ReportDone = webhooks["usage_report.processed"]["post"]["requestBody"]["content"]["application/json"];
function onAttributed(event: Attributed): string[] {
  const kind: "clip.attributed" = event.type;
  return [kind, event.id, ...(event.data.attribution?.shares ?? []).map((s) => s.recording.isrc)];
}
function onReport(event: ReportDone): number {
  return event.data.usage_report.rejected_count;
}

async function submit(base: string, key: string): Promise<SubmitAnswer> {
  const response = await fetch(`${base}/api/v1/clips`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Idempotency-Key": "gen-8841-v1" },
    body: clipForm(full),
  });
  const replayed: Replayed | null = response.headers.get("Idempotent-Replayed") === "true" ? "true" : null;
  const requestId: RequestId = response.headers.get("X-Request-ID") ?? "";
  if (!response.ok) {
    const problem = (await response.json()) as Schemas["Error"];
    throw new Error(`${problem.error.code} (request ${requestId}, replayed ${replayed})`);
  }
  return (await response.json()) as SubmitAnswer;
}

export {
  batch,
  errorCode,
  floatRevenue,
  isrcs,
  minimal,
  noCount,
  nextCursor,
  nullDate,
  onAttributed,
  onReport,
  owed,
  pause,
  rejectReason,
  submit,
  textForFile,
};
