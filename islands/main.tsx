/** The browser entry point: hydrates the server-rendered island with the state it was rendered from. */
import { hydrate } from "preact";
import { App, type InitialState } from "./app.tsx";

const root = document.getElementById("app")!;
const initial: InitialState = JSON.parse(root.dataset.state ?? "{}");
hydrate(<App initial={initial} />, root);
