// artifact-hub console: small glue, no build step. htmx requests carry the CSRF token.
document.addEventListener("htmx:configRequest", function (event) {
  var token = document.body.dataset.csrf;
  if (token) {
    event.detail.headers["X-CSRF-Token"] = token;
  }
});
