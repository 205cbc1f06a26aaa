#!/bin/sh
# Posts a runnergen report as ONE note on the current merge request, and updates that note in
# place on every later push instead of adding another: the note is found by the marker the
# Markdown report opens with (`<!-- runnergen-diff -->`) and by its author, the token's own
# user (GET /user): a note someone else wrote, marker or not, is never adopted nor edited.
#
# Usage: runnergen-mr-note.sh REPORT.md
#
# From GitLab CI: CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID. The note is written with
# RUNNERGEN_NOTE_TOKEN, a project access token (role Reporter or more, scope `api`) kept in a
# masked CI/CD variable: CI_JOB_TOKEN cannot write notes. The token reaches curl on its standard
# input, never on its command line. Needs curl and jq.
#
# GitLab API: GET /user (docs.gitlab.com/api/users, "Get the current user"), GET/POST
# /projects/:id/merge_requests/:iid/notes and PUT .../notes/:note_id (docs.gitlab.com/api/notes,
# "Merge requests": each note has `author.id`); pagination by X-Next-Page.
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

# Who the token is: only a note this user wrote is runnergen's.
api "$CI_API_V4_URL/user" > "$work/user.json"
me=$(jq -r '.id // empty' "$work/user.json")
case $me in
  '' | *[!0-9]*)
    echo "runnergen: GET /user did not name the token's user; cannot tell runnergen's note from another" >&2
    exit 1
    ;;
esac

# The note this user wrote that carries the marker, if any: walk every page.
page=1
note=''
while [ -n "$page" ] && [ -z "$note" ]; do
  api "$notes?per_page=100&sort=asc&page=$page" > "$work/page.json"
  note=$(jq -r --arg m "$marker" --argjson me "$me" \
    '[.[] | select(.author.id == $me and (.body | startswith($m))) | .id][0] // empty' "$work/page.json")
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
