#!/bin/sh
# Posts a runnergen report as ONE note on the current merge request, and updates that note in
# place on every later push instead of adding another: the note is found by the marker the
# Markdown report opens with (`<!-- runnergen-diff -->`).
#
# Usage: runnergen-mr-note.sh REPORT.md
#
# From GitLab CI: CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID. The note is written with
# RUNNERGEN_NOTE_TOKEN, a project access token (role Reporter or more, scope `api`) kept in a
# masked CI/CD variable: CI_JOB_TOKEN cannot write notes. The token reaches curl on its standard
# input, never on its command line. Needs curl and jq.
#
# GitLab API: GET/POST /projects/:id/merge_requests/:iid/notes and PUT .../notes/:note_id
# (docs.gitlab.com/api/notes, "Merge requests"); pagination by X-Next-Page.
set -eu

report=${1:?usage: runnergen-mr-note.sh REPORT.md}
marker='<!-- runnergen-diff -->'
: "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}" "${CI_MERGE_REQUEST_IID:?}"
: "${RUNNERGEN_NOTE_TOKEN:?set RUNNERGEN_NOTE_TOKEN to a project access token with the api scope}"
notes="$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# curl with the token header from stdin; prints the body, writes headers to $work/headers.
api() {
  printf 'PRIVATE-TOKEN: %s\n' "$RUNNERGEN_NOTE_TOKEN" |
    curl --silent --show-error --fail-with-body --header @- --dump-header "$work/headers" "$@"
}

# The note that carries the marker, if any: walk every page.
page=1
note=''
while [ -n "$page" ] && [ -z "$note" ]; do
  api "$notes?per_page=100&sort=asc&page=$page" > "$work/page.json"
  note=$(jq -r --arg m "$marker" '[.[] | select(.body | startswith($m)) | .id][0] // empty' "$work/page.json")
  page=$(tr -d '\r' < "$work/headers" | awk -F': ' 'tolower($1) == "x-next-page" { print $2 }')
done

jq -Rs '{body: .}' "$report" > "$work/body.json"
if [ -n "$note" ]; then
  api --request PUT --header 'Content-Type: application/json' --data @"$work/body.json" "$notes/$note" > /dev/null
  echo "runnergen: updated merge request note $note"
else
  api --request POST --header 'Content-Type: application/json' --data @"$work/body.json" "$notes" > /dev/null
  echo "runnergen: added a merge request note"
fi
