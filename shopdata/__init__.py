"""The shop's data and small infrastructure, the bottom layer (DESIGN §1): the action catalogue,
the input contracts and their validation (contacts-only campaign logs included), the DuckDB
store, atomic files and the compute device. It imports nothing of ltv-engine's; every other
package may import it."""
