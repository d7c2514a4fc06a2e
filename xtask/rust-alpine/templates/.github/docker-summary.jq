# Markdown for a GitHub Actions job summary, from the report of `cargo xtask docker --json`:
#   jq --raw-output --from-file .github/docker-summary.jq docker-report.json >> "$GITHUB_STEP_SUMMARY"

def mark: if . then "✅" else "❌" end;
# Sizes as Docker prints them: powers of 1000.
def size:
  if . == null then "-"
  elif . >= 1000000 then "\(. / 10000 | round / 100) MB"
  else "\(. / 10 | round / 100) kB"
  end;
# Text that stays inside one cell of a Markdown table.
def cell: tostring | gsub("\\|"; "\\|") | gsub("\n"; " ");

"### \(.ok | mark) `\(.image)` (\(.kind), \(.runtime))",
"",
"| image | budget | used | binary | build |",
"|---:|---:|---:|---:|---:|",
"| \(.image_bytes | size) | \(.budget_bytes | size) | \(if .budget_bytes > 0 then "\(.image_bytes * 100 / .budget_bytes | round) %" else "-" end) | \(.binary_bytes | size) | \(.build_seconds | round) s |",
"",
"| step | ok | detail | seconds |",
"|---|:-:|---|---:|",
(.steps[] | "| \(.name) | \(.ok | mark) | \(.detail | cell) | \(.seconds * 10 | round / 10) |"),
(if .compile_cache then "", "sccache (\(.compile_cache.backend)): \(.compile_cache.hits) hits, \(.compile_cache.misses) misses" else empty end),
(if (.warnings // [] | length) > 0 then "", "**Warnings:**", "", (.warnings[] | "- \(cell)") else empty end),
(if (.errors | length) > 0 then "", "**Failed:**", "", (.errors[] | "- \(cell)") else empty end),
(if (.largest_layers | length) > 0 then "", "**Largest layers:**", "", (.largest_layers[] | "- \(.bytes | size): `\(.created_by | cell | .[0:160])`") else empty end),
""
