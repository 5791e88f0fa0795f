document.querySelectorAll("table.sizes").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (header, column) {
    header.title = "click to sort";
    header.addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var text = row.cells[column].textContent.trim();
        var number = Number(text);
        return text !== "" && !isNaN(number) ? [0, number] : [1, text];
      }
      rows.sort(function (a, b) {
        var ka = key(a), kb = key(b), order;
        if (ka[0] !== kb[0]) { order = ka[0] - kb[0]; }
        else if (ka[0] === 0) { order = ka[1] - kb[1]; }
        else { order = ka[1].localeCompare(kb[1], undefined, {numeric: true}); }
        if (order === 0) { order = a.dataset.index - b.dataset.index; return order; }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
