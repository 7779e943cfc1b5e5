import { MemoryStore } from "pop3-server";
import { storeContract } from "../../src/store-contract/index";

storeContract("MemoryStore", {
  createStore: () => new MemoryStore(),
  deliver: (store, user, bytes) => store.addMessage(user, bytes),
});
