// The sessions the benchmark stores and loads, shared by the runner, which seeds them, and the
// worker, which stores them. A small session is about 300 bytes of BSON; a large one adds
// about 100 KB of nested `data`, shaped like a cart, a browsing history and preferences.

export const SIZES = ['small', 'large']

/** Returns the fields of a session besides `id` and `store`, as the app SDK writes them. */
export function sessionFields(size, now = Date.now()) {
  const fields = {
    accessToken: 'qat_5f0c8a1e9b7d4c2a8e6f1b3d9c7a5e2f4b8d6c0a',
    isOnline: false,
    scope: 'read_products,write_products,read_orders,write_orders,read_customers,read_themes',
    expires: new Date(now + 24 * 60 * 60 * 1000),
    lastSeenAt: new Date(now),
  }
  if (size === 'large') fields.data = largeData(now)
  return fields
}

function largeData(now) {
  const items = Array.from({ length: 320 }, (_, index) => ({
    sku: `SKU-${String(index).padStart(6, '0')}`,
    title: `Hand-finished oak side table, model ${index}, with brass fittings`,
    quantity: (index % 4) + 1,
    price: 19.99 + index,
    options: { color: ['oak', 'walnut', 'ash'][index % 3], size: ['S', 'M', 'L'][index % 3], gift: index % 5 === 0 },
    addedAt: new Date(now - index * 60_000),
  }))
  const viewed = Array.from({ length: 600 }, (_, index) => ({
    handle: `products/oak-side-table-${index}`,
    at: new Date(now - index * 30_000),
  }))
  return {
    cart: { currency: 'USD', note: 'Leave at the back door', items },
    recentlyViewed: viewed,
    preferences: { theme: 'dark', language: 'en-US', newsletter: true, density: 'compact' },
  }
}
