// The live feed: an EventSource on /console/events/stream; rows are built with textContent
// (no HTML from events reaches the page).
document.addEventListener("DOMContentLoaded", function () {
  var table = document.getElementById("events-table");
  var body = document.getElementById("events-body");
  var state = document.getElementById("feed-state");
  if (!table || !window.EventSource) { return; }
  var source = new EventSource(table.dataset.stream);
  source.onopen = function () { state.textContent = "live"; };
  source.onerror = function () { state.textContent = "reconnecting…"; };
  source.addEventListener("hub-event", function (message) {
    var event = JSON.parse(message.data);
    var row = document.createElement("tr");
    row.className = "new";
    [String(event.id), event.at, event.type].forEach(function (text, index) {
      var cell = document.createElement("td");
      cell.textContent = text;
      if (index === 0) { cell.className = "num"; }
      row.appendChild(cell);
    });
    var subject = document.createElement("td");
    var link = document.createElement("a");
    link.href = event.href;
    link.textContent = event.name || event.key;
    subject.appendChild(link);
    row.appendChild(subject);
    var agent = document.createElement("td");
    agent.textContent = event.agent;
    row.appendChild(agent);
    body.insertBefore(row, body.firstChild);
  });
});
