// Landing page: the join form only needs the code trimmed to digits before it goes to join.html.
const input = document.getElementById("code");
input.addEventListener("input", () => {
  const digits = input.value.replace(/\D/g, "").slice(0, 6);
  if (digits !== input.value) input.value = digits;
});
